"""A simulated fleet: vans with a gateway and a GPS each, parcels each watched by a BLE logger.

Deterministic from its parameters, so that the demo's seeding (shipments, custody) and each
simulated gateway (which sensors to emit) agree on the same plan without talking to each other.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from firmware_bridge.board.protocol import device_id as board_device_id

# Real streets, so that positions land somewhere recognisable on a map.
ROUTES: tuple[tuple[str, tuple[tuple[float, float], ...]], ...] = (
    (
        "Lyon Gerland depot -> Villeurbanne",
        (
            (45.7290, 4.8290),
            (45.7405, 4.8372),
            (45.7508, 4.8420),
            (45.7600, 4.8570),
            (45.7665, 4.8795),
            (45.7712, 4.8890),
        ),
    ),
    (
        "Rungis market -> Paris 13e",
        (
            (48.7490, 2.3520),
            (48.7722, 2.3608),
            (48.8007, 2.3640),
            (48.8190, 2.3608),
            (48.8287, 2.3561),
            (48.8322, 2.3557),
        ),
    ),
    (
        "Marseille port -> La Joliette",
        (
            (43.3120, 5.3560),
            (43.3058, 5.3650),
            (43.3030, 5.3700),
            (43.2965, 5.3755),
        ),
    ),
)

PRODUCTS = (
    "Insulin pens, 2-8 °C",
    "Fresh salmon fillets",
    "Flu vaccines, 2-8 °C",
    "Organic yoghurts",
    "Cheese selection",
    "Blood samples, 2-8 °C",
)
SHOPPERS = (("Camille Martin", "fr"), ("Alex Smith", "en"), ("Léa Bernard", "fr"))


@dataclass(frozen=True, slots=True)
class ParcelPlan:
    parcel_id: str
    tracking_number: str
    logger_mac: str
    description: str
    shopper_name: str
    shopper_language: str
    excursion: bool


@dataclass(frozen=True, slots=True)
class VanPlan:
    vehicle_id: str
    name: str
    gateway_id: str
    gps_device_id: str
    board_id: int
    route_name: str
    route: tuple[tuple[float, float], ...]
    parcels: tuple[ParcelPlan, ...]

    @property
    def board_device_id(self) -> str:
        """The device id the board protocol gives this van's sensor board."""
        return board_device_id(self.board_id)

    @property
    def door_tag_mac(self) -> str:
        """The BTHome door contact on the van's rear door (simulators/door_tag.py)."""
        return f"3C:2E:F5:00:{self.board_id >> 8 & 0xFF:02X}:{self.board_id & 0xFF:02X}"


@dataclass(frozen=True, slots=True)
class FleetPlan:
    seed: int
    run: str
    vans: tuple[VanPlan, ...]

    @property
    def parcels(self) -> list[ParcelPlan]:
        return [p for v in self.vans for p in v.parcels]

    def van(self, vehicle_id: str) -> VanPlan:
        for van in self.vans:
            if van.vehicle_id == vehicle_id:
                return van
        known = ", ".join(v.vehicle_id for v in self.vans)
        raise KeyError(f"no vehicle {vehicle_id!r} in this fleet (vehicles: {known})")


def _unique_mac(rng: random.Random, taken: set[str]) -> str:
    """A logger MAC (Telink's A4:C1:38 prefix) no other parcel of the fleet has: two parcels
    with one MAC would be one device moving between two vans."""
    while True:
        mac = "A4:C1:38:" + ":".join(f"{rng.randrange(256):02X}" for _ in range(3))
        if mac not in taken:
            taken.add(mac)
            return mac


def build(vans: int = 2, parcels: int = 6, seed: int = 7, run: str = "demo") -> FleetPlan:
    """Vans ``van-1..N``; parcels dealt round-robin; the first parcel has an excursion."""
    if vans < 1 or parcels < 1:
        raise ValueError("a fleet needs at least one van and one parcel")
    rng = random.Random(seed)
    plans: list[list[ParcelPlan]] = [[] for _ in range(vans)]
    macs: set[str] = set()
    for i in range(parcels):
        mac = _unique_mac(rng, macs)
        shopper, language = SHOPPERS[i % len(SHOPPERS)]
        plans[i % vans].append(
            ParcelPlan(
                parcel_id=f"{run}-p{i + 1}",
                tracking_number=f"CT{run.upper()}{seed:02d}{i + 1:04d}",
                logger_mac=mac,
                description=PRODUCTS[i % len(PRODUCTS)],
                shopper_name=shopper,
                shopper_language=language,
                excursion=i == 0,
            )
        )
    return FleetPlan(
        seed=seed,
        run=run,
        vans=tuple(
            VanPlan(
                vehicle_id=f"van-{n + 1}",
                name=f"Reefer van {n + 1}",
                gateway_id=f"gw-van-{n + 1}",
                gps_device_id=f"GPS-VAN-{n + 1}",
                board_id=n + 1,
                route_name=ROUTES[n % len(ROUTES)][0],
                route=ROUTES[n % len(ROUTES)][1],
                parcels=tuple(plans[n]),
            )
            for n in range(vans)
        ),
    )
