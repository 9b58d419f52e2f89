-- +goose Up
-- Timestamps are TEXT in the fixed-width UTC form 2006-01-02T15:04:05.000000Z so
-- that they compare and sort correctly as strings. Length checks mirror the
-- VARCHAR limits of the PostgreSQL schema so both back-ends refuse the same rows.

CREATE TABLE Users (
    oid          TEXT PRIMARY KEY CHECK (length(oid) BETWEEN 1 AND 36),
    email        TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    is_active    INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    deleted_at   TEXT
);

CREATE TABLE ApiKeys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_oid       TEXT NOT NULL REFERENCES Users(oid),
    key_hash       TEXT NOT NULL UNIQUE
                   CHECK (length(key_hash) = 64 AND key_hash NOT GLOB '*[^0-9a-f]*'),
    prefix         TEXT NOT NULL DEFAULT '',
    name           TEXT NOT NULL DEFAULT '',
    expires_at     TEXT,
    is_active      INTEGER NOT NULL DEFAULT 1,
    last_used_at   TEXT,
    allowed_models TEXT, -- JSON array of model names; NULL: every model
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX idx_apikeys_user_oid ON ApiKeys(user_oid);

CREATE TABLE Models (
    name                      TEXT PRIMARY KEY CHECK (length(name) >= 1),
    context_window            INTEGER NOT NULL DEFAULT 0,
    max_output_tokens         INTEGER NOT NULL DEFAULT 0,
    input_price_micros        INTEGER NOT NULL DEFAULT 0,
    output_price_micros       INTEGER NOT NULL DEFAULT 0,
    cached_input_price_micros INTEGER NOT NULL DEFAULT 0,
    routing                   TEXT NOT NULL DEFAULT '',
    is_active                 INTEGER NOT NULL DEFAULT 1,
    created_at                TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at                TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);

CREATE TABLE ModelEndpoints (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    model          TEXT NOT NULL REFERENCES Models(name) ON DELETE CASCADE ON UPDATE CASCADE,
    provider       TEXT NOT NULL,
    base_url       TEXT NOT NULL DEFAULT '',
    upstream_model TEXT NOT NULL DEFAULT '',
    api_version    TEXT NOT NULL DEFAULT '',
    credential     BLOB, -- ciphertext (package secrets)
    weight         INTEGER NOT NULL DEFAULT 1,
    priority       INTEGER NOT NULL DEFAULT 0,
    rpm_limit      INTEGER NOT NULL DEFAULT 0,
    tpm_limit      INTEGER NOT NULL DEFAULT 0,
    is_active      INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX idx_modelendpoints_model ON ModelEndpoints(model);

CREATE TABLE Apps (
    app_id      TEXT PRIMARY KEY CHECK (length(app_id) BETWEEN 1 AND 50),
    name        TEXT NOT NULL CHECK (length(name) <= 100),
    description TEXT,
    owner_id    TEXT NOT NULL REFERENCES Users(oid),
    is_active   INTEGER DEFAULT 1,
    created_at  TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at  TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
);
CREATE INDEX idx_apps_owner_id ON Apps(owner_id);

CREATE TABLE AuditLogs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    actor       TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL DEFAULT '',
    target_type TEXT NOT NULL DEFAULT '',
    target      TEXT NOT NULL DEFAULT '',
    before_json TEXT,
    after_json  TEXT,
    client_addr TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_auditlogs_created_at ON AuditLogs(created_at);

CREATE TABLE UsageLogs (
    request_id        TEXT PRIMARY KEY CHECK (length(request_id) >= 1),
    created_at        TEXT NOT NULL,
    user_oid          TEXT NOT NULL CHECK (length(user_oid) <= 36),
    key_id            INTEGER,
    app_id            TEXT CHECK (length(app_id) <= 50), -- logical reference to Apps(app_id)
    model             TEXT NOT NULL,
    endpoint_id       INTEGER,
    status            INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens INTEGER NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    cached_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (cached_tokens >= 0),
    reasoning_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (reasoning_tokens >= 0),
    cost_nanos        INTEGER NOT NULL DEFAULT 0,
    latency_ms        INTEGER NOT NULL DEFAULT 0,
    ttft_ms           INTEGER NOT NULL DEFAULT 0,
    stream            INTEGER NOT NULL DEFAULT 0,
    error_code        TEXT NOT NULL DEFAULT '',
    delegation_method TEXT NOT NULL DEFAULT '',
    attempts          INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX idx_usagelogs_app_id ON UsageLogs(app_id);
CREATE INDEX idx_usagelogs_user_created ON UsageLogs(user_oid, created_at);
CREATE INDEX idx_usagelogs_created_at ON UsageLogs(created_at);

-- +goose Down
DROP TABLE UsageLogs;
DROP TABLE AuditLogs;
DROP TABLE Apps;
DROP TABLE ModelEndpoints;
DROP TABLE Models;
DROP TABLE ApiKeys;
DROP TABLE Users;
