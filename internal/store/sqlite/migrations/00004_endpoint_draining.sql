-- +goose Up
-- An endpoint being drained takes no new requests; in-flight ones finish.
ALTER TABLE ModelEndpoints ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE ModelEndpoints DROP COLUMN draining;
