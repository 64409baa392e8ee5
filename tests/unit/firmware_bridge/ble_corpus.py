"""Real BLE advertisements of the cold-chain loggers teams buy, each with where it comes from.

Each capture is the advert's AD structures in hex (what btmon prints and ``coldtrail decode ble``
takes) and, where the family sends its local name only there, the scan response. The
manufacturer data, service data and names are the captured bytes of the named source; the AD
framing around them (flags, the 0xFFF0 / 0xEC88 service UUID lists the sources list beside
them) is rebuilt here. ``expect`` holds the values the source asserts for those bytes (for
theengs/decoder: an independent decoder's expected output, a cross-check of the library).

Used by tests/unit/firmware_bridge/test_ble_corpus.py and by ``python -m bench.ble_corpus``
(how many of these decode, before and after a change).
"""

from __future__ import annotations

from dataclasses import dataclass, field

THEENGS = (
    "theengs/decoder tests/BLE/test_ble.cpp @ 03159a79e7d0e392e284f2a73c03e4b2dec87614"
    " (test_mfgdata / test_servicedata and their expected_* rows)"
)
INKBIRD = (
    "Bluetooth-Devices/inkbird-ble tests/test_parser.py @ 0067d958886d1da931254fd2a1e90778a7a2ffa0"
)
GOVEE = (
    "Bluetooth-Devices/govee-ble tests/test_parser.py @ 01adf05f3880467522b2f57f78d7b455bb93e3cf"
)
THERMOBEACON = (
    "Bluetooth-Devices/thermobeacon-ble tests/test_parser.py @ "
    "0a275d1afd7e9a671ef41338a04bb44af8a1b383"
)
RUUVI_DOCS_V1 = (
    "Ruuvi docs, data format 3 (RAWv1) test vectors, ruuvi/ruuvi-sensor-protocols "
    "dataformat_03.md; also rows of theengs/decoder tests/BLE/test_ble.cpp @ 03159a79"
)
RUUVI_DOCS_V2 = (
    "Ruuvi docs, data format 5 (RAWv2) test vectors, ruuvi/ruuvi-sensor-protocols "
    "dataformat_05.md (minimum temperature corrected to 0x8001, ruuvi-sensor-protocols #30)"
)
RUUVITAG_BLE = "ruuvitag-ble 0.4.0 (PyPI sdist) tests/test_v3.py and tests/test_v5.py"
BTHOME_IO = "bthome.io format page, the example advert"
SENSORPUSH = (
    "Bluetooth-Devices/sensorpush-ble tests/test_parser.py @ "
    "07c04c542a4dabcdfd954a6025e99a7bd77911d2 (the entry HTW_DETECT_CHANGED_2 and "
    "HTPW_DETECT_CHANGE_2 add to _1, which test_ht_w_large_data_set / "
    "test_htp_w_large_data_set decode)"
)
XIAOMI = (
    "Bluetooth-Devices/xiaomi-ble tests/test_parser.py @ b0bb42f777c9c5bdc6bc12590334bfc741b199a0"
    " (test_Xiaomi_LYWSD03MMC_encrypted, with its bindkey)"
)
_SENSORPUSH_SERVICE = "ef090000-11d6-42ba-93b8-9dd7ec090ab0"

_INKBIRD_SERVICE = 0xFFF0
_GOVEE_SERVICE = 0xEC88


def ad(
    *,
    flags: int | None = 0x06,
    name: str | None = None,
    uuids16: tuple[int, ...] = (),
    uuids128: tuple[str, ...] = (),
    manufacturer: str | None = None,
    service_data16: tuple[int, str] | None = None,
) -> str:
    """AD structures in hex. ``manufacturer``: company id (little-endian) + data, in hex, as
    theengs/decoder writes it; ``service_data16``: (16-bit UUID, data in hex)."""
    out = bytearray()
    if flags is not None:
        out += bytes((2, 0x01, flags))
    if uuids16:
        body = b"".join(uuid.to_bytes(2, "little") for uuid in uuids16)
        out += bytes((len(body) + 1, 0x03)) + body
    if uuids128:
        body = b"".join(bytes.fromhex(uuid.replace("-", ""))[::-1] for uuid in uuids128)
        out += bytes((len(body) + 1, 0x07)) + body
    if name is not None:
        encoded = name.encode()
        out += bytes((len(encoded) + 1, 0x09)) + encoded
    if manufacturer is not None:
        body = bytes.fromhex(manufacturer)
        out += bytes((len(body) + 1, 0xFF)) + body
    if service_data16 is not None:
        uuid, data = service_data16
        body = uuid.to_bytes(2, "little") + bytes.fromhex(data)
        out += bytes((len(body) + 1, 0x16)) + body
    return out.hex()


def mfr(company_id: int, data: bytes) -> str:
    """A manufacturer data entry as the Home Assistant libraries' tests write it
    (``{company_id: data}``), in theengs/decoder's hex form."""
    return (company_id.to_bytes(2, "little") + data).hex()


@dataclass(frozen=True, slots=True)
class Capture:
    label: str
    kind: str
    advert: str
    source: str
    expect: dict[str, float] = field(default_factory=dict)
    scan_response: str | None = None
    refused: tuple[str, ...] = ()
    """Contract fields the advert carries out of range (left out of the reading, rejected)."""
    address: str = "A4:C1:38:12:34:56"
    """The sender's address: MiBeacon frames carry it and xiaomi-ble checks it."""
    bindkey: str | None = None
    """The sensor's bindkey (hex), for an encrypted advert."""

    @property
    def scan_responses(self) -> tuple[str, ...]:
        return () if self.scan_response is None else (self.scan_response,)


def _inkbird(label: str, name: str, manufacturer: str, source: str, **expect: float) -> Capture:
    return Capture(
        label,
        "inkbird",
        ad(uuids16=(_INKBIRD_SERVICE,), manufacturer=manufacturer),
        source,
        expect,
        scan_response=ad(flags=None, name=name),
    )


def _govee(label: str, name: str, manufacturer: str, source: str, **expect: float) -> Capture:
    return Capture(
        label,
        "govee",
        ad(manufacturer=manufacturer),
        source,
        expect,
        scan_response=ad(flags=None, name=name, uuids16=(_GOVEE_SERVICE,)),
    )


def _ruuvi(label: str, payload: str, source: str, *refused: str, **expect: float) -> Capture:
    return Capture(
        label, "ruuvi", ad(manufacturer="9904" + payload), source, expect, refused=refused
    )


CAPTURES: tuple[Capture, ...] = (
    # --- Inkbird IBS-TH1 ("sps"), IBS-TH2 / IBS-P01B ("tps"), ITH-21-B -----------------------
    _inkbird(
        "IBS-TH1",
        "sps",
        "660a03150010805908",
        THEENGS,
        temperature_c=26.62,
        humidity_pct=53.79,
        battery_pct=89,
    ),
    _inkbird(
        "IBS-TH1 external probe",
        "sps",
        "f009fe1301ca893008",
        THEENGS,
        temperature_c=25.44,
        humidity_pct=51.18,
        battery_pct=48,
    ),
    _inkbird(
        "IBS-TH2",
        "tps",
        "660a19200010805908",
        THEENGS,
        temperature_c=26.62,
        humidity_pct=82.17,
        battery_pct=89,
    ),
    _inkbird(
        "IBS-TH2 below zero",
        "tps",
        "76fb00000010805908",
        THEENGS,
        temperature_c=-11.62,
        battery_pct=89,
    ),
    _inkbird(
        "IBS-TH1 near zero",
        "sps",
        "e300bb070093c36406",
        THEENGS,
        temperature_c=2.27,
        humidity_pct=19.79,
        battery_pct=100,
    ),
    _inkbird("IBS-P01B", "tps", "840affff00a6066008", THEENGS, temperature_c=26.92, battery_pct=96),
    _inkbird(
        "IBS-TH (test_sps)",
        "sps",
        mfr(2044, b"\xc7\x12\x00\xc8=V\x06"),
        INKBIRD,
        temperature_c=20.44,
        humidity_pct=48.07,
        battery_pct=86,
    ),
    _inkbird(
        "IBS-TH (test_sps_variant2)",
        "sps",
        mfr(2363, b"\xd0\x13\x00\xce\x90d\x06"),
        INKBIRD,
        temperature_c=23.63,
        humidity_pct=50.72,
        battery_pct=100,
    ),
    _inkbird(
        "IBS-TH2 (test_unknown_tps)",
        "tps",
        mfr(2120, b"\x00\x00\x00\xc6n\r\x06"),
        INKBIRD,
        temperature_c=21.2,
        battery_pct=13,
    ),
    # --- Govee --------------------------------------------------------------------------------
    _govee(
        "H5075",
        "GVH5075_1234",
        "88ec000418ee6400",
        THEENGS,
        temperature_c=26.8,
        humidity_pct=52.6,
        battery_pct=100,
    ),
    _govee(
        "H5075 below zero",
        "GVH5075_1234",
        "88ec00811f096400",
        THEENGS,
        temperature_c=-7.3481,
        humidity_pct=48.1,
        battery_pct=100,
    ),
    _govee(
        "H5072",
        "GVH5072_1234",
        "88ec0004344b6400",
        THEENGS,
        temperature_c=27.5,
        humidity_pct=53.1,
        battery_pct=100,
    ),
    _govee(
        "H5102",
        "GVH5102_1234",
        "0100010103590e64",
        THEENGS,
        temperature_c=21.9,
        humidity_pct=40.6,
        battery_pct=100,
    ),
    _govee(
        "H5174",
        "GVH5174_1234",
        "01000101035e1364",
        THEENGS,
        temperature_c=22.0,
        humidity_pct=69.1,
        battery_pct=100,
    ),
    _govee(
        "H5174 below zero",
        "GVH5174_1234",
        "01000101811a6764",
        THEENGS,
        temperature_c=-7.2,
        humidity_pct=29.5,
        battery_pct=100,
    ),
    _govee(
        "H5074",
        "Govee_H5074_1234",
        "88ec00c408231d6402",
        THEENGS,
        temperature_c=22.44,
        humidity_pct=74.59,
        battery_pct=100,
    ),
    _govee(
        "H5074 below zero",
        "Govee_H5074_1234",
        "88ec00a0facc176402",
        THEENGS,
        temperature_c=-13.76,
        humidity_pct=60.92,
        battery_pct=100,
    ),
    _govee(
        "H5074 warm",
        "Govee_H5074_1234",
        "88ec001b0a9b196402",
        THEENGS,
        temperature_c=25.87,
        humidity_pct=65.55,
        battery_pct=100,
    ),
    _govee(
        "H5075 (GVH5075_SERVICE_INFO_2)", "GVH5075_DBF8", mfr(60552, b"\x00\x03M\xb2d\x00"), GOVEE
    ),
    _govee("H5100", "GVH5100_7738", mfr(1, b"\x01\x01\x03FTd"), GOVEE),
    _govee("H5105", "GVH5105_7336", mfr(1, b"\x01\x01\x032^d"), GOVEE),
    _govee("H5179", "Govee_H5179_3CD5", mfr(34817, b"\xec\x00\x01\x01\n\n\xa4\x06d"), GOVEE),
    # --- ThermoBeacon -------------------------------------------------------------------------
    Capture(
        "ThermoBeacon lanyard (MFR_16_LEN_20)",
        "thermobeacon",
        ad(
            uuids16=(_INKBIRD_SERVICE,),
            manufacturer=mfr(
                16, b"\x00\x00\xb0\x02\x00\x00G\xa4\xe2\x0c\x80\x01\xb6\x02J\x00\x00\x00"
            ),
        ),
        THERMOBEACON,
        {"temperature_c": 24.0, "humidity_pct": 43.38, "battery_pct": 100},
        scan_response=ad(flags=None, name="ThermoBeacon"),
    ),
    Capture(
        "ThermoBeacon hygrometer (MFR_27)",
        "thermobeacon",
        ad(
            uuids16=(_INKBIRD_SERVICE,),
            manufacturer=mfr(27, b"\x00\x00\x83,\x00\x00\xd0c\x82\x0co\x01s\x02\x05#\x00\x00"),
        ),
        THERMOBEACON,
        {"temperature_c": 22.94, "humidity_pct": 39.19, "battery_pct": 100},
    ),
    # --- Xiaomi MiBeacon (LYWSDCGQ, unencrypted) ----------------------------------------------
    Capture(
        "Xiaomi LYWSDCGQ",
        "xiaomi",
        ad(service_data16=(0xFE95, "5020aa0137dfaa33342d580d100404016602")),
        THEENGS,
        {"temperature_c": 26.0, "humidity_pct": 61.4},
        address="58:2D:34:33:AA:DF",
    ),
    Capture(
        "Xiaomi LYWSD03MMC, MiBeacon v5 encrypted",
        "xiaomi",
        ad(service_data16=(0xFE95, "58585b0550f4830238c1a495ef58763c26000097e2abb5")),
        XIAOMI,
        {"humidity_pct": 46.0},
        address="A4:C1:38:02:83:F4",
        bindkey="e9ea895fac7cca6d30532432a516f3a8",
    ),
    # --- SensorPush ---------------------------------------------------------------------------
    Capture(
        "SensorPush HT.w",
        "sensorpush",
        ad(uuids128=(_SENSORPUSH_SERVICE,), manufacturer=mfr(14596, b"6\xe7<")),
        SENSORPUSH,
        {"temperature_c": 20.44, "humidity_pct": 38.7},
    ),
    Capture(
        "SensorPush HTP.xw",
        "sensorpush",
        ad(uuids128=(_SENSORPUSH_SERVICE,), manufacturer=mfr(24064, b"6[:\xbb\xb6")),
        SENSORPUSH,
        {"temperature_c": 22.3, "humidity_pct": 52.81, "pressure_hpa": 997.59},
    ),
    # --- RuuviTag -----------------------------------------------------------------------------
    _ruuvi(
        "RAWv1 valid",
        "03291A1ECE1EFC18F94202CA0B53",
        RUUVI_DOCS_V1,
        temperature_c=26.3,
        humidity_pct=20.5,
        pressure_hpa=1027.66,
    ),
    _ruuvi(
        "RAWv1 maximum values",
        "03FF7F63FFFF7FFF7FFF7FFFFFFF",
        RUUVI_DOCS_V1,
        "humidity_pct",
        temperature_c=127.99,
        pressure_hpa=1155.35,
    ),
    _ruuvi(
        "RAWv1 minimum values",
        "0300FF6300008001800180010000",
        RUUVI_DOCS_V1,
        "temperature_c",
        humidity_pct=0,
        pressure_hpa=500,
    ),
    _ruuvi(
        "RAWv1 (V3_SENSOR_DATA)",
        "03b20c1fca20007a002603d0088f",
        RUUVITAG_BLE,
        temperature_c=12.31,
        humidity_pct=89.0,
        pressure_hpa=1017.44,
    ),
    _ruuvi(
        "RAWv1 below zero (V3_SENSOR_DATA_SUBZERO)",
        "03b28145ca20007a002603d0088f",
        RUUVITAG_BLE,
        temperature_c=-1.69,
    ),
    _ruuvi(
        "RAWv2 valid",
        "0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F",
        RUUVI_DOCS_V2,
        temperature_c=24.3,
        humidity_pct=53.49,
        pressure_hpa=1000.44,
    ),
    _ruuvi(
        "RAWv2 maximum values",
        "057FFFFFFEFFFE7FFF7FFF7FFFFFDEFEFFFECBB8334C884F",
        RUUVI_DOCS_V2,
        "humidity_pct",
        temperature_c=163.835,
        pressure_hpa=1155.34,
    ),
    _ruuvi(
        "RAWv2 minimum values",
        "058001000000008001800180010000000000CBB8334C884F",
        RUUVI_DOCS_V2,
        "temperature_c",
        humidity_pct=0,
        pressure_hpa=500,
    ),
    _ruuvi(
        "RAWv2 outdoor (V5_OUTDOOR_SENSOR_DATA)",
        "0505a060a0c89afd34028cff006376726976dead7b3fefaf",
        RUUVITAG_BLE,
        temperature_c=7.2,
        humidity_pct=61.84,
        pressure_hpa=1013.54,
    ),
    # --- BTHome (decoded before this change too) ----------------------------------------------
    Capture(
        "BTHome v2",
        "bthome",
        ad(service_data16=(0xFCD2, "40016402ca0903bf13")),
        BTHOME_IO,
        {"temperature_c": 25.06, "humidity_pct": 50.55, "battery_pct": 100},
    ),
)
