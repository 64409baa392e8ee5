-- The dead letters as operators read them (GET /v1/dead-letters in the API): newest first by
-- when each was last seen, all of them or one gateway's, keyset-paged on (last_seen, id).

CREATE INDEX dead_letters_last_seen ON dead_letters (last_seen DESC, dead_letter_id DESC);
CREATE INDEX dead_letters_gateway_last_seen
    ON dead_letters (gateway_id, last_seen DESC, dead_letter_id DESC);
