-- The topic is the gateway's identity, down to its devices: a device bound to a vehicle is
-- accepted by ingest only from the gateway installed in that vehicle (vehicles.gateway_id, so a
-- gateway moved to another vehicle takes the vehicle's devices with it); from any other gateway
-- its readings, positions and events are dead letters (ingest/bindings.py). Bindings are set by
-- operators (PUT /v1/devices/{device_id}/binding, and POST /v1/custody binds the custody's device
-- to its vehicle), never by what a gateway sends. A device with no binding is accepted from any
-- gateway.
CREATE TABLE device_bindings (
    device_id   text PRIMARY KEY,
    vehicle_id  text NOT NULL REFERENCES vehicles ON UPDATE CASCADE,
    bound_at    timestamptz NOT NULL DEFAULT now(),
    bound_by    text NOT NULL
);
CREATE INDEX device_bindings_vehicle ON device_bindings (vehicle_id);

-- The devices that watch a parcel now are bound to the vehicle of their custody.
INSERT INTO device_bindings (device_id, vehicle_id, bound_by)
SELECT DISTINCT ON (device_id) device_id, vehicle_id, 'migration 0014: open custody'
  FROM custody
 WHERE to_time IS NULL AND device_id IS NOT NULL AND vehicle_id IS NOT NULL
 ORDER BY device_id, from_time DESC;
