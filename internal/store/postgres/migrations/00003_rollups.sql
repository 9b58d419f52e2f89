-- +goose Up
-- Usage rollups, kept by InsertUsage in the same statement as the UsageLogs
-- rows (only the rows actually inserted). day is the calendar day of the
-- billing time zone, month its first day. app_id '' is usage without an app.
-- The three tables hold the same amounts at three grains; the coarse ones let
-- the month's user list and totals read few rows. They are not partitioned
-- and outlive the UsageLogs partitions that retention drops.

CREATE TABLE UsageRollups (
    day               DATE NOT NULL,
    user_oid          VARCHAR(36) NOT NULL,
    app_id            VARCHAR(50) NOT NULL DEFAULT '',
    model             TEXT NOT NULL,
    requests          BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens     BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens  BIGINT NOT NULL DEFAULT 0,
    cost_nanos        BIGINT NOT NULL DEFAULT 0, -- nano-USD
    PRIMARY KEY (day, user_oid, app_id, model)
) WITH (fillfactor = 90);
CREATE INDEX idx_usagerollups_user_day ON UsageRollups(user_oid, day);

CREATE TABLE UsageUserMonths (
    month             DATE NOT NULL, -- first day of the month
    user_oid          VARCHAR(36) NOT NULL,
    requests          BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens     BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens  BIGINT NOT NULL DEFAULT 0,
    cost_nanos        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (month, user_oid)
);
CREATE INDEX idx_usageusermonths_cost ON UsageUserMonths(month, cost_nanos DESC, user_oid);

CREATE TABLE UsageAppModelDays (
    day               DATE NOT NULL,
    app_id            VARCHAR(50) NOT NULL DEFAULT '',
    model             TEXT NOT NULL,
    requests          BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens     BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens  BIGINT NOT NULL DEFAULT 0,
    cost_nanos        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, app_id, model)
) WITH (fillfactor = 70);

-- The time zone the rollups' days are in. The backfill below uses UTC; Open
-- rebuilds the rollups when the configured billing time zone differs.
CREATE TABLE UsageRollupState (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    time_zone TEXT NOT NULL
);

INSERT INTO UsageRollups (day, user_oid, app_id, model, requests, prompt_tokens,
        completion_tokens, cached_tokens, reasoning_tokens, cost_nanos)
    SELECT (created_at AT TIME ZONE 'UTC')::date, user_oid, COALESCE(app_id, ''), model,
        COUNT(*), SUM(prompt_tokens)::bigint, SUM(completion_tokens)::bigint,
        SUM(cached_tokens)::bigint, SUM(reasoning_tokens)::bigint, SUM(cost_nanos)::bigint
    FROM UsageLogs GROUP BY 1, 2, 3, 4;
INSERT INTO UsageUserMonths (month, user_oid, requests, prompt_tokens, completion_tokens,
        cached_tokens, reasoning_tokens, cost_nanos)
    SELECT date_trunc('month', day::timestamp)::date, user_oid, SUM(requests)::bigint,
        SUM(prompt_tokens)::bigint, SUM(completion_tokens)::bigint, SUM(cached_tokens)::bigint,
        SUM(reasoning_tokens)::bigint, SUM(cost_nanos)::bigint
    FROM UsageRollups GROUP BY 1, 2;
INSERT INTO UsageAppModelDays (day, app_id, model, requests, prompt_tokens,
        completion_tokens, cached_tokens, reasoning_tokens, cost_nanos)
    SELECT day, app_id, model, SUM(requests)::bigint, SUM(prompt_tokens)::bigint,
        SUM(completion_tokens)::bigint, SUM(cached_tokens)::bigint,
        SUM(reasoning_tokens)::bigint, SUM(cost_nanos)::bigint
    FROM UsageRollups GROUP BY 1, 2, 3;
INSERT INTO UsageRollupState (id, time_zone) VALUES (1, 'UTC');

-- +goose Down
DROP TABLE UsageRollupState;
DROP TABLE UsageAppModelDays;
DROP TABLE UsageUserMonths;
DROP TABLE UsageRollups;
