"""Decoders of BLE advertisement formats, one module per family.

* :mod:`~firmware_bridge.ble.bthome` (BTHome v1/v2, encrypted with a bindkey),
  :mod:`~firmware_bridge.ble.ruuvi` (RuuviTag RAWv2), :mod:`~firmware_bridge.ble.pvvx`
  (the pvvx and atc1441 formats of the LYWSD03MMC custom firmware): each offers
  ``decode(advert: BleAdvert) -> list[Sample]`` and raises
  :class:`coldtrail.errors.DecodeError` (with the raw bytes) for what it cannot decode; BTHome
  also offers ``decode_advert`` (events and states too: doors, buttons, light,
  :mod:`~firmware_bridge.ble.bthome_events`);
* :mod:`~firmware_bridge.ble.advertisement`: raw AD structures → :class:`BleAdvert`;
* :mod:`~firmware_bridge.ble.registry`: sensor configs, kind detection, one decode entry point.
"""
