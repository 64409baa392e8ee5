-- Where a shipment leaves from and goes to, as coordinates: the delivery estimate (alerts/eta.py)
-- needs the remaining great-circle distance to the destination, and the lane (origin ->
-- destination) to find past trips as a prior on the duration.
--
-- Both coordinates of a point are given or neither (a latitude without its longitude is no
-- place). Past trips on a lane are the shipments with the same origin and destination names
-- (case and surrounding spaces ignored): the expression index below serves that lookup.

ALTER TABLE shipments
    ADD COLUMN origin_lat      double precision CHECK (origin_lat BETWEEN -90 AND 90),
    ADD COLUMN origin_lon      double precision CHECK (origin_lon BETWEEN -180 AND 180),
    ADD COLUMN destination_lat double precision CHECK (destination_lat BETWEEN -90 AND 90),
    ADD COLUMN destination_lon double precision CHECK (destination_lon BETWEEN -180 AND 180),
    ADD CONSTRAINT shipments_origin_point
        CHECK ((origin_lat IS NULL) = (origin_lon IS NULL)),
    ADD CONSTRAINT shipments_destination_point
        CHECK ((destination_lat IS NULL) = (destination_lon IS NULL));

CREATE INDEX shipments_lane ON shipments (lower(btrim(origin)), lower(btrim(destination)))
    WHERE origin IS NOT NULL AND destination IS NOT NULL;

-- A shipment's delivery, and its checkpoints of one status, found without a scan.
CREATE INDEX checkpoints_shipment_status ON checkpoints (shipment_id, status, checkpoint_time);
