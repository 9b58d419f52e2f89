-- +goose Up
-- An endpoint being drained takes no new requests; in-flight ones finish.
ALTER TABLE ModelEndpoints ADD COLUMN draining BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE ModelEndpoints DROP COLUMN draining;
