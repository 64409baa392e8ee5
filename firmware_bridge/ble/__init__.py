"""Decoders of BLE advertisement formats, one module per family (``bthome``, ...).

Each module offers ``decode(advert: BleAdvert) -> list[Sample]`` and raises
:class:`coldtrail.errors.DecodeError` (with the raw bytes) for what it cannot decode.
"""
