-- +goose Up
-- Usage rollups, kept by InsertUsage in the same transaction as the UsageLogs
-- rows (only the rows actually inserted). Days and months are calendar days of
-- the billing time zone, as text: day YYYY-MM-DD, month YYYY-MM-01. app_id ''
-- is usage without an app. The three tables hold the same amounts at three
-- grains; the coarse ones let the month's user list and totals read few rows.
-- The typeof checks turn an integer overflow of a sum (which SQLite would
-- silently make a REAL) into a failed insert.

CREATE TABLE UsageRollups (
    day               TEXT NOT NULL,
    user_oid          TEXT NOT NULL,
    app_id            TEXT NOT NULL DEFAULT '',
    model             TEXT NOT NULL,
    requests          INTEGER NOT NULL DEFAULT 0 CHECK (typeof(requests) = 'integer'),
    prompt_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (typeof(prompt_tokens) = 'integer'),
    completion_tokens INTEGER NOT NULL DEFAULT 0 CHECK (typeof(completion_tokens) = 'integer'),
    cached_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (typeof(cached_tokens) = 'integer'),
    reasoning_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (typeof(reasoning_tokens) = 'integer'),
    cost_nanos        INTEGER NOT NULL DEFAULT 0 CHECK (typeof(cost_nanos) = 'integer'),
    PRIMARY KEY (day, user_oid, app_id, model)
) WITHOUT ROWID;
CREATE INDEX idx_usagerollups_user_day ON UsageRollups(user_oid, day);

CREATE TABLE UsageUserMonths (
    month             TEXT NOT NULL,
    user_oid          TEXT NOT NULL,
    requests          INTEGER NOT NULL DEFAULT 0 CHECK (typeof(requests) = 'integer'),
    prompt_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (typeof(prompt_tokens) = 'integer'),
    completion_tokens INTEGER NOT NULL DEFAULT 0 CHECK (typeof(completion_tokens) = 'integer'),
    cached_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (typeof(cached_tokens) = 'integer'),
    reasoning_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (typeof(reasoning_tokens) = 'integer'),
    cost_nanos        INTEGER NOT NULL DEFAULT 0 CHECK (typeof(cost_nanos) = 'integer'),
    PRIMARY KEY (month, user_oid)
) WITHOUT ROWID;
CREATE INDEX idx_usageusermonths_cost ON UsageUserMonths(month, cost_nanos DESC, user_oid);

CREATE TABLE UsageAppModelDays (
    day               TEXT NOT NULL,
    app_id            TEXT NOT NULL DEFAULT '',
    model             TEXT NOT NULL,
    requests          INTEGER NOT NULL DEFAULT 0 CHECK (typeof(requests) = 'integer'),
    prompt_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (typeof(prompt_tokens) = 'integer'),
    completion_tokens INTEGER NOT NULL DEFAULT 0 CHECK (typeof(completion_tokens) = 'integer'),
    cached_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (typeof(cached_tokens) = 'integer'),
    reasoning_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (typeof(reasoning_tokens) = 'integer'),
    cost_nanos        INTEGER NOT NULL DEFAULT 0 CHECK (typeof(cost_nanos) = 'integer'),
    PRIMARY KEY (day, app_id, model)
) WITHOUT ROWID;

-- The time zone the rollups' days are in. The backfill below uses UTC (SQLite
-- has no time zone rules); Open rebuilds the rollups when the configured
-- billing time zone differs.
CREATE TABLE UsageRollupState (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    time_zone TEXT NOT NULL
);

INSERT INTO UsageRollups (day, user_oid, app_id, model, requests, prompt_tokens,
        completion_tokens, cached_tokens, reasoning_tokens, cost_nanos)
    SELECT substr(created_at, 1, 10), user_oid, COALESCE(app_id, ''), model, COUNT(*),
        SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens),
        SUM(reasoning_tokens), SUM(cost_nanos)
    FROM UsageLogs GROUP BY 1, 2, 3, 4;
INSERT INTO UsageUserMonths (month, user_oid, requests, prompt_tokens, completion_tokens,
        cached_tokens, reasoning_tokens, cost_nanos)
    SELECT substr(day, 1, 7) || '-01', user_oid, SUM(requests), SUM(prompt_tokens),
        SUM(completion_tokens), SUM(cached_tokens), SUM(reasoning_tokens), SUM(cost_nanos)
    FROM UsageRollups GROUP BY 1, 2;
INSERT INTO UsageAppModelDays (day, app_id, model, requests, prompt_tokens,
        completion_tokens, cached_tokens, reasoning_tokens, cost_nanos)
    SELECT day, app_id, model, SUM(requests), SUM(prompt_tokens), SUM(completion_tokens),
        SUM(cached_tokens), SUM(reasoning_tokens), SUM(cost_nanos)
    FROM UsageRollups GROUP BY 1, 2, 3;
INSERT INTO UsageRollupState (id, time_zone) VALUES (1, 'UTC');

-- +goose Down
DROP TABLE UsageRollupState;
DROP TABLE UsageAppModelDays;
DROP TABLE UsageUserMonths;
DROP TABLE UsageRollups;
