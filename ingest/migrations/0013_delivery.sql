-- Delivery ends a parcel's story (coldtrail/custody.py, docs/api.md "Delivery").
--
-- Proof of delivery on a carrier checkpoint (Delivered only; the API refuses it on others):
-- who received the parcel, the name on the signature, an https link to the carrier's photo.
ALTER TABLE checkpoints
    ADD COLUMN received_by    text CHECK (length(received_by) BETWEEN 1 AND 200),
    ADD COLUMN signature_name text CHECK (length(signature_name) BETWEEN 1 AND 200),
    ADD COLUMN photo_url      text CHECK (length(photo_url) BETWEEN 9 AND 2000
                                          AND photo_url LIKE 'https://%');

-- Why a custody ended, when it was ended by a delivery: 'delivered' (a Delivered checkpoint of
-- the shipment, or an unload scan at its destination). NULL: ended otherwise (handed to another
-- vehicle, unloaded elsewhere, ended through the API) or still open.
ALTER TABLE custody
    ADD COLUMN end_reason text CHECK (end_reason IN ('delivered')),
    ADD CHECK (end_reason IS NULL OR to_time IS NOT NULL);
