-- +goose Up
-- Timestamps are TIMESTAMPTZ (read back as UTC) except in Apps, which follows
-- the specification's DDL verbatim (TIMESTAMP; the gateway writes UTC values and
-- runs its sessions with TimeZone=UTC).

CREATE TABLE Users (
    oid          VARCHAR(36) PRIMARY KEY CHECK (oid <> ''),
    email        TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    role         VARCHAR(16) NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    is_active    BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    deleted_at   TIMESTAMPTZ
);

CREATE TABLE ApiKeys (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_oid       VARCHAR(36) NOT NULL REFERENCES Users(oid),
    key_hash       CHAR(64) NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    prefix         TEXT NOT NULL DEFAULT '',
    name           TEXT NOT NULL DEFAULT '',
    expires_at     TIMESTAMPTZ,
    is_active      BOOLEAN NOT NULL DEFAULT TRUE,
    last_used_at   TIMESTAMPTZ,
    allowed_models TEXT[], -- NULL: every model
    created_at     TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_apikeys_user_oid ON ApiKeys(user_oid);

CREATE TABLE Models (
    name                      TEXT PRIMARY KEY CHECK (name <> ''),
    context_window            BIGINT NOT NULL DEFAULT 0,
    max_output_tokens         BIGINT NOT NULL DEFAULT 0,
    -- micro-USD per one million tokens
    input_price_micros        BIGINT NOT NULL DEFAULT 0,
    output_price_micros       BIGINT NOT NULL DEFAULT 0,
    cached_input_price_micros BIGINT NOT NULL DEFAULT 0,
    routing                   TEXT NOT NULL DEFAULT '',
    is_active                 BOOLEAN NOT NULL DEFAULT TRUE,
    created_at                TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at                TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE ModelEndpoints (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model          TEXT NOT NULL REFERENCES Models(name) ON DELETE CASCADE ON UPDATE CASCADE,
    provider       TEXT NOT NULL,
    base_url       TEXT NOT NULL DEFAULT '',
    upstream_model TEXT NOT NULL DEFAULT '',
    api_version    TEXT NOT NULL DEFAULT '',
    credential     BYTEA, -- ciphertext (package secrets)
    weight         INTEGER NOT NULL DEFAULT 1,
    priority       INTEGER NOT NULL DEFAULT 0,
    rpm_limit      BIGINT NOT NULL DEFAULT 0, -- 0: unlimited
    tpm_limit      BIGINT NOT NULL DEFAULT 0, -- 0: unlimited
    is_active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_modelendpoints_model ON ModelEndpoints(model);

CREATE TABLE Apps (
    app_id      VARCHAR(50) PRIMARY KEY,
    name        VARCHAR(100) NOT NULL,
    description TEXT,
    owner_id    VARCHAR(36) NOT NULL REFERENCES Users(oid),
    is_active   BOOLEAN DEFAULT TRUE,
    created_at  TIMESTAMP DEFAULT NOW(),
    updated_at  TIMESTAMP DEFAULT NOW()
);
CREATE INDEX idx_apps_owner_id ON Apps(owner_id);

CREATE TABLE AuditLogs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    actor       TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL DEFAULT '',
    target_type TEXT NOT NULL DEFAULT '',
    target      TEXT NOT NULL DEFAULT '',
    before_json JSONB,
    after_json  JSONB,
    client_addr TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_auditlogs_created_at ON AuditLogs(created_at);

-- One row per proxied request, partitioned by month of created_at. Monthly
-- partitions (usagelogs_YYYY_MM) are created by the application
-- (EnsureUsagePartitions), not here.
CREATE TABLE UsageLogs (
    request_id        TEXT NOT NULL CHECK (request_id <> ''),
    created_at        TIMESTAMPTZ NOT NULL,
    user_oid          VARCHAR(36) NOT NULL,
    key_id            BIGINT,
    app_id            VARCHAR(50), -- logical reference to Apps(app_id)
    model             TEXT NOT NULL,
    endpoint_id       BIGINT,
    status            INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens BIGINT NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    cached_tokens     BIGINT NOT NULL DEFAULT 0 CHECK (cached_tokens >= 0),
    reasoning_tokens  BIGINT NOT NULL DEFAULT 0 CHECK (reasoning_tokens >= 0),
    cost_nanos        BIGINT NOT NULL DEFAULT 0, -- nano-USD
    latency_ms        BIGINT NOT NULL DEFAULT 0,
    ttft_ms           BIGINT NOT NULL DEFAULT 0,
    stream            BOOLEAN NOT NULL DEFAULT FALSE,
    error_code        TEXT NOT NULL DEFAULT '',
    delegation_method TEXT NOT NULL DEFAULT '',
    attempts          INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (request_id, created_at)
) PARTITION BY RANGE (created_at);
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
