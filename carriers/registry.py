"""The one list of carriers: settings (``COLDTRAIL_CARRIER_<NAME>_URL`` / ``_KEY``), the CLI, the
API's validation of a leg's carrier and docs/carriers.md derive from it (a test checks the docs).

Each carrier's code table maps the carrier's own event code to the common status taxonomy; its
group table maps the carrier's coarse status (where it gives one) — authoritative where the
carrier documents it as the event's status (DHL, UPS), otherwise only the nearest status of an
unknown code (which is then also kept as a dead letter)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from api.models_tracking import CheckpointStatus
from carriers.connectors import HttpRequest, dhl, dpd, gls, laposte, mondialrelay, ups
from carriers.model import CarrierTracking
from coldtrail.carriers import CARRIERS as INFO

# La Poste Suivi v2 event codes ("Liste des codes événements" of the Suivi API's documentation).
LAPOSTE_CODES: Mapping[str, CheckpointStatus] = {
    "DR1": "InfoReceived",  # déclaratif réceptionné: the sender announced the parcel
    "PC1": "InTransit",  # pris en charge
    "PC2": "InTransit",  # pris en charge dans le pays d'expédition
    "ET1": "InTransit",  # en cours de traitement
    "ET2": "InTransit",  # … dans le pays d'expédition
    "ET3": "InTransit",  # … dans le pays de destination
    "ET4": "InTransit",  # … dans un pays de transit
    "EP1": "InTransit",  # en attente de présentation
    "DO1": "InTransit",  # entrée en douane
    "DO2": "InTransit",  # sortie de douane
    "DO3": "Exception",  # retenu en douane
    "PB1": "Exception",  # problème en cours
    "PB2": "InTransit",  # problème résolu
    "MD2": "OutForDelivery",  # mis en distribution
    "ND1": "AttemptFail",  # non distribuable
    "AG1": "AvailableForPickup",  # en attente d'être retiré au guichet / en point de retrait
    "RE1": "Exception",  # retourné à l'expéditeur
    "DI1": "Delivered",  # distribué
    "DI2": "Exception",  # distribué à l'expéditeur (the return arrived): final, not delivered
}
LAPOSTE_FINAL = frozenset({"DI1", "DI2"})

# DHL Unified API statusCode.
DHL_GROUPS: Mapping[str, CheckpointStatus] = {
    "pre-transit": "InfoReceived",
    "transit": "InTransit",
    "delivered": "Delivered",
    "failure": "Exception",
    "unknown": "Pending",
}

# UPS activity status.type, and the activity codes that say more than their type.
UPS_GROUPS: Mapping[str, CheckpointStatus] = {
    "M": "InfoReceived",  # manifest (label created)
    "MV": "Exception",  # manifest voided
    "P": "InTransit",  # pickup
    "I": "InTransit",  # in transit
    "W": "InTransit",  # in a warehouse
    "D": "Delivered",
    "X": "Exception",
    "RS": "Exception",  # returned to shipper
    "NA": "Pending",  # not available
}
UPS_CODES: Mapping[str, CheckpointStatus] = {
    "OT": "OutForDelivery",  # out for delivery today
    "KB": "Delivered",
}

# Mondial Relay: its events have labels only; STAT is the shipment's status.
MONDIALRELAY_CODES: Mapping[str, CheckpointStatus] = {
    "COLIS ENREGISTRÉ": "InfoReceived",
    "PRISE EN CHARGE EN AGENCE": "InTransit",
    "COLIS EN COURS D'ACHEMINEMENT": "InTransit",
    "COLIS EN COURS DE LIVRAISON": "OutForDelivery",
    "COLIS DISPONIBLE AU POINT RELAIS": "AvailableForPickup",
    "COLIS LIVRÉ": "Delivered",
    "COLIS LIVRÉ AU DESTINATAIRE": "Delivered",
    "DESTINATAIRE ABSENT": "AttemptFail",
    "RETOUR À L'EXPÉDITEUR": "Exception",
}
MONDIALRELAY_GROUPS: Mapping[str, CheckpointStatus] = {
    "80": "InfoReceived",
    "81": "InTransit",
    "82": "Delivered",
    "83": "Exception",
}

# DPD Parcel Lifecycle statusInfo.status (the steps of DPD's parcel lifecycle); no coarse status.
DPD_CODES: Mapping[str, CheckpointStatus] = {
    "PickedUp": "InTransit",  # DPD has received the parcel
    "BetweenDepots": "InTransit",  # at the parcel dispatch centre, on its way
    "Depot": "InTransit",  # at the parcel delivery centre
    "Courier": "OutForDelivery",  # left the delivery centre, on its way to the consignee
    "DeliveryFailure": "AttemptFail",  # not delivered
    "ReturningFromDelivery": "AttemptFail",  # back at the depot after an unsuccessful attempt
    "ParcelShop": "AvailableForPickup",  # delivered by the driver to a Pickup parcelshop
    "Delivered": "Delivered",
}

# GLS Track And Trace event codes (the API's documented examples; GLS's /tracking/events/codes
# lists them all for an account) …
GLS_CODES: Mapping[str, CheckpointStatus] = {
    "INTIAL.PREADVICE": "InfoReceived",  # parcel data entered, not yet handed over (sic: INTIAL)
    "INTIAL.E48_DATA": "InfoReceived",  # provided by the sender for collection by GLS
    "INTIAL.NORMAL": "InTransit",  # handed over to GLS
    "DELIVD.PARCELSHOP": "AvailableForPickup",  # delivered at the ParcelShop, to be collected
}
# … and the parcel's status: the nearest status of its latest event when that code is unknown.
GLS_GROUPS: Mapping[str, CheckpointStatus] = {
    "PLANNEDPICKUP": "InfoReceived",
    "INPICKUP": "InfoReceived",
    "NOTPICKEDUP": "Exception",
    "PREADVICE": "InfoReceived",
    "INTRANSIT": "InTransit",
    "INWAREHOUSE": "InTransit",
    "INDELIVERY": "OutForDelivery",
    "DELIVEREDPS": "AvailableForPickup",
    "DELIVERED": "Delivered",
    "NOTDELIVERED": "AttemptFail",
    "CANCELED": "Exception",
    "FINAL": "Expired",  # GLS closed the parcel's history: nothing more will come
}


@dataclass(frozen=True, slots=True)
class Carrier:
    name: str
    """The code used in legs, checkpoints' source and settings (``COLDTRAIL_CARRIER_<NAME>_…``);
    its label and tracking page are :data:`coldtrail.carriers.CARRIERS`'."""
    default_url: str
    request: Callable[[str, str, str | None], HttpRequest]
    parse: Callable[[str, str, bytes], CarrierTracking]
    codes: Mapping[str, CheckpointStatus]
    groups: Mapping[str, CheckpointStatus]
    groups_are_statuses: bool
    """True: the carrier documents its group as the event's status (never a dead letter)."""
    final_codes: frozenset[str] = frozenset()
    """Codes after which the carrier says nothing more (besides Delivered and Expired)."""
    api: str = ""
    """The API the connector speaks and where its documentation is."""


_LAPOSTE_URL = "https://api.laposte.fr/suivi/v2"
_LAPOSTE_API = "La Poste Suivi v2 (developer.laposte.fr)"

CARRIERS: Mapping[str, Carrier] = {
    c.name: c
    for c in (
        Carrier(
            "laposte",
            _LAPOSTE_URL,
            laposte.request,
            laposte.parse,
            LAPOSTE_CODES,
            {},
            False,
            LAPOSTE_FINAL,
            _LAPOSTE_API,
        ),
        Carrier(
            "colissimo",
            _LAPOSTE_URL,
            laposte.request,
            laposte.parse,
            LAPOSTE_CODES,
            {},
            False,
            LAPOSTE_FINAL,
            _LAPOSTE_API,
        ),
        Carrier(
            "chronopost",
            _LAPOSTE_URL,
            laposte.request,
            laposte.parse,
            LAPOSTE_CODES,
            {},
            False,
            LAPOSTE_FINAL,
            _LAPOSTE_API,
        ),
        Carrier(
            "dhl",
            "https://api-eu.dhl.com",
            dhl.request,
            dhl.parse,
            {},
            DHL_GROUPS,
            True,
            api="DHL Shipment Tracking - Unified (developer.dhl.com)",
        ),
        Carrier(
            "ups",
            "https://onlinetools.ups.com",
            ups.request,
            ups.parse,
            UPS_CODES,
            UPS_GROUPS,
            True,
            api="UPS Tracking API v1 (developer.ups.com)",
        ),
        Carrier(
            "dpd",
            "https://wsshipper.dpd.be",
            dpd.request,
            dpd.parse,
            DPD_CODES,
            {},
            False,
            api="DPD Parcel Lifecycle service V2.0, getTrackingData (DPD Web Services)",
        ),
        Carrier(
            "gls",
            "https://api.gls-group.net/track-and-trace-v1",
            gls.request,
            gls.parse,
            GLS_CODES,
            GLS_GROUPS,
            False,
            api="GLS Track And Trace API V1 (dev-portal.gls-group.net)",
        ),
        Carrier(
            "mondialrelay",
            "https://api.mondialrelay.com",
            mondialrelay.request,
            mondialrelay.parse,
            MONDIALRELAY_CODES,
            MONDIALRELAY_GROUPS,
            False,
            api="Mondial Relay WSI2_TracingColisDetaille (Solution Web Service guide)",
        ),
    )
}


def label(name: str) -> str:
    return INFO[name].label


def page(name: str) -> str:
    return INFO[name].page
