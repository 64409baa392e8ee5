"""What the shopper is told at each step, in English and French (data only; rendered by
:mod:`alerts.shopper_render`, checked by :mod:`alerts.notify_templates`).

Plain words, no promise we cannot keep, the reason and what to do. Each text is a
``str.format`` subject and body over the notice's context; ``extras`` are sentences added only
when their key has a value (a carrier's proof of delivery, its own words). The greeting with the
shopper's name, the merchant's brand, the help link and the unsubscribe link are added around
the body when the message is sent (the name and the addresses are read then, so that an erased
shopper is never named).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ShopperText:
    subject: str
    body: str
    extras: Mapping[str, str] = field(default_factory=dict)


TEXTS: dict[str, dict[str, ShopperText]] = {
    "info_received": {
        "en": ShopperText(
            "Your order {tracking_number} is being prepared",
            "The carrier has received the details of your parcel {tracking_number}: it is"
            " being prepared for shipping. We will tell you when it is on its way.",
        ),
        "fr": ShopperText(
            "Votre commande {tracking_number} est en préparation",
            "Le transporteur a reçu les informations de votre colis {tracking_number} : il est"
            " en préparation. Nous vous préviendrons dès qu'il sera en route.",
        ),
    },
    "in_transit": {
        "en": ShopperText(
            "Your parcel {tracking_number} is on its way",
            "Your parcel {tracking_number} has been shipped and is on its way to you.",
            {"location": "Last seen at {location} on {time}."},
        ),
        "fr": ShopperText(
            "Votre colis {tracking_number} est en route",
            "Votre colis {tracking_number} a été expédié et il est en route vers vous.",
            {"location": "Dernier passage : {location}, le {time}."},
        ),
    },
    "out_for_delivery": {
        "en": ShopperText(
            "Your parcel {tracking_number} is out for delivery",
            "Your parcel {tracking_number} is out for delivery today. Please make sure someone"
            " can receive it.",
            {"eta": "We expect it around {eta}."},
        ),
        "fr": ShopperText(
            "Votre colis {tracking_number} est en cours de livraison",
            "Votre colis {tracking_number} est en cours de livraison aujourd'hui. Assurez-vous"
            " que quelqu'un puisse le recevoir.",
            {"eta": "Nous l'attendons vers {eta}."},
        ),
    },
    "arriving_soon": {
        "en": ShopperText(
            "Your parcel {tracking_number} arrives soon",
            "Your parcel {tracking_number} is nearly there: we expect it between {eta_from} and"
            " {eta_to}.",
        ),
        "fr": ShopperText(
            "Votre colis {tracking_number} arrive bientôt",
            "Votre colis {tracking_number} est presque arrivé : nous l'attendons entre {eta_from}"
            " et {eta_to}.",
        ),
    },
    "delivered": {
        "en": ShopperText(
            "Your parcel {tracking_number} has been delivered",
            "Your parcel {tracking_number} was delivered on {time}.",
            {
                "location": "Place: {location}.",
                "received_by": "Received by {received_by}.",
                "signature_name": "Signed: {signature_name}.",
                "photo_url": "Photo of the delivery: {photo_url}",
            },
        ),
        "fr": ShopperText(
            "Votre colis {tracking_number} a été livré",
            "Votre colis {tracking_number} a été livré le {time}.",
            {
                "location": "Lieu : {location}.",
                "received_by": "Reçu par {received_by}.",
                "signature_name": "Signé : {signature_name}.",
                "photo_url": "Photo de la livraison : {photo_url}",
            },
        ),
    },
    "attempt_failed": {
        "en": ShopperText(
            "We could not deliver your parcel {tracking_number}",
            "The carrier tried to deliver your parcel {tracking_number} on {time} but could not."
            " What to do: the carrier will try again on the next working day; if you will not"
            " be there, contact us to choose another time or a pickup point.",
            {"message": "The carrier says: {message}"},
        ),
        "fr": ShopperText(
            "Nous n'avons pas pu livrer votre colis {tracking_number}",
            "Le transporteur a essayé de livrer votre colis {tracking_number} le {time}, sans"
            " succès. Que faire : il repassera le prochain jour ouvré ; si vous serez absent,"
            " contactez-nous pour choisir un autre moment ou un point relais.",
            {"message": "Le transporteur indique : {message}"},
        ),
    },
    "available_for_pickup": {
        "en": ShopperText(
            "Your parcel {tracking_number} is waiting for you",
            "Your parcel {tracking_number} is available for pickup since {time}. Bring an"
            " identity document and your tracking number.",
            {
                "location": "Where: {location}.",
                "message": "The carrier says: {message}",
                "pickup_until": "Collect it before {pickup_until}, after which it is returned.",
            },
        ),
        "fr": ShopperText(
            "Votre colis {tracking_number} vous attend",
            "Votre colis {tracking_number} est disponible au retrait depuis le {time}. Munissez"
            "-vous d'une pièce d'identité et de votre numéro de suivi.",
            {
                "location": "Où : {location}.",
                "message": "Le transporteur indique : {message}",
                "pickup_until": "Retirez-le avant le {pickup_until} ; passé ce délai, il est"
                " retourné.",
            },
        ),
    },
    "delay": {
        "en": ShopperText(
            "Your parcel {tracking_number} will be late",
            "We are sorry: your parcel {tracking_number} will not arrive on {promised_at} as"
            " promised. We now expect it on {eta}. The reason: {reason}.",
        ),
        "fr": ShopperText(
            "Votre colis {tracking_number} aura du retard",
            "Nous sommes désolés : votre colis {tracking_number} n'arrivera pas le"
            " {promised_at} comme prévu. Nous l'attendons maintenant le {eta}. La raison :"
            " {reason}.",
        ),
    },
    "condition_incident": {
        "en": ShopperText(
            "Important: the temperature of your parcel {tracking_number}",
            "What happened: on {started_at} the temperature of your parcel {tracking_number}"
            " left the range its contents need ({peak:.1f} °C against a limit of"
            " {limit:.1f} °C), for longer than the product allows. What it means: {meaning}"
            " What we do: {remedy}",
        ),
        "fr": ShopperText(
            "Important : la température de votre colis {tracking_number}",
            "Ce qui s'est passé : le {started_at}, la température de votre colis"
            " {tracking_number} est sortie de la plage que son contenu exige ({peak:.1f} °C"
            " pour une limite de {limit:.1f} °C), plus longtemps que le produit ne le tolère."
            " Ce que cela signifie : {meaning} Ce que nous faisons : {remedy}",
        ),
    },
}

# The words of enumerations in the context, in the reader's language.
MEANING = {
    "out_of_spec": {
        "en": "the product may no longer be safe or effective.",
        "fr": "le produit n'est peut-être plus sûr ni efficace.",
    },
}
REMEDY = {
    "replacement": {
        "en": "we send you a replacement at no cost. Do not use the product you receive.",
        "fr": "nous vous envoyons un remplacement sans frais. N'utilisez pas le produit reçu.",
    },
    "refund": {
        "en": "we refund you in full. Do not use the product you receive.",
        "fr": "nous vous remboursons intégralement. N'utilisez pas le produit reçu.",
    },
    "do_not_consume": {
        "en": "do not consume or use the product; we will contact you about what comes next.",
        "fr": "ne consommez pas et n'utilisez pas le produit ; nous vous recontacterons pour la"
        " suite.",
    },
    None: {
        "en": "we will contact you; until then, do not use the product.",
        "fr": "nous allons vous contacter ; d'ici là, n'utilisez pas le produit.",
    },
}

FRAME = {
    "en": {
        "hello": "Hello {name},",
        "hello_anonymous": "Hello,",
        "follow": "Follow your parcel with the tracking link of your order confirmation.",
        "help": "Questions? {help_url}",
        "signature": "{brand}",
        "unsubscribe": "To stop these messages: {unsubscribe_url}",
        "unsubscribe_sms": "Stop: {unsubscribe_url}",
    },
    "fr": {
        "hello": "Bonjour {name},",
        "hello_anonymous": "Bonjour,",
        "follow": "Suivez votre colis avec le lien de suivi de votre confirmation de commande.",
        "help": "Une question ? {help_url}",
        "signature": "{brand}",
        "unsubscribe": "Pour ne plus recevoir ces messages : {unsubscribe_url}",
        "unsubscribe_sms": "Stop : {unsubscribe_url}",
    },
}
