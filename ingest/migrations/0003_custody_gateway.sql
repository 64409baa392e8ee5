-- The gateway a parcel's custody follows is the one installed in the vehicle when the custody
-- started: moving a gateway to another vehicle later must not change a past timeline.
ALTER TABLE custody ADD COLUMN gateway_id text;
UPDATE custody c SET gateway_id = v.gateway_id FROM vehicles v WHERE v.vehicle_id = c.vehicle_id;
