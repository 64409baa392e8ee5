"""The carrier statuses in plain words, in the shopper's language (French and English; any other
language falls back to English)."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "InfoReceived": "Order received, waiting for the carrier",
        "InTransit": "On its way",
        "OutForDelivery": "Out for delivery",
        "AttemptFail": "Delivery attempt failed",
        "Delivered": "Delivered",
        "AvailableForPickup": "Ready for pickup",
        "Exception": "Delivery problem",
        "Expired": "Tracking expired",
        "Pending": "Waiting for the first carrier update",
    },
    "fr": {
        "InfoReceived": "Commande reçue, en attente du transporteur",
        "InTransit": "En route",
        "OutForDelivery": "En cours de livraison",
        "AttemptFail": "Échec de la tentative de livraison",
        "Delivered": "Livré",
        "AvailableForPickup": "Disponible au point de retrait",
        "Exception": "Incident de livraison",
        "Expired": "Suivi expiré",
        "Pending": "En attente des premières nouvelles du transporteur",
    },
}


def label(status: str, language: str | None) -> str:
    """``status`` in plain words in ``language`` (English when there is no translation)."""
    words = LABELS.get(language or "en", LABELS["en"])
    return words.get(status, status)
