"""The carriers coldtrail knows, by the code used in legs, checkpoints' ``source`` and the
settings (``COLDTRAIL_CARRIER_<NAME>_URL``): their name for people and the shopper's link to
their own tracking page (``{}`` is the carrier's tracking number). The connectors of
:mod:`carriers.registry` are keyed by the same codes (a test checks that they agree)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class CarrierInfo:
    label: str
    page: str


CARRIERS: dict[str, CarrierInfo] = {
    "laposte": CarrierInfo("La Poste", "https://www.laposte.fr/outils/suivre-vos-envois?code={}"),
    "colissimo": CarrierInfo(
        "Colissimo", "https://www.laposte.fr/outils/suivre-vos-envois?code={}"
    ),
    "chronopost": CarrierInfo(
        "Chronopost", "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT={}"
    ),
    "dhl": CarrierInfo("DHL", "https://www.dhl.com/global-en/home/tracking.html?tracking-id={}"),
    "dpd": CarrierInfo("DPD", "https://tracking.dpd.de/status/en_US/parcel/{}"),
    "gls": CarrierInfo("GLS", "https://gls-group.com/track/{}"),
    "ups": CarrierInfo("UPS", "https://www.ups.com/track?tracknum={}"),
    "mondialrelay": CarrierInfo(
        "Mondial Relay", "https://www.mondialrelay.fr/suivi-de-colis/?numeroExpedition={}"
    ),
}


def tracking_page(carrier: str, number: str) -> str | None:
    info = CARRIERS.get(carrier)
    return None if info is None else info.page.format(quote(number, safe=""))
