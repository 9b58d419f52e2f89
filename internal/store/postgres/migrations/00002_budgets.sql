-- +goose Up
-- Explicit monthly budgets (nano-USD) of users, apps and keys; what was spent is
-- the sum of UsageLogs.cost_nanos, so it is not stored here.
CREATE TABLE Budgets (
    scope         VARCHAR(8) NOT NULL CHECK (scope IN ('user', 'app', 'key')),
    target        VARCHAR(50) NOT NULL CHECK (target <> ''),
    monthly_nanos BIGINT NOT NULL CHECK (monthly_nanos >= 0),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (scope, target)
);

-- Kill switches; a lifted switch keeps its row (lifted_at set) for history.
CREATE TABLE KillSwitches (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope      VARCHAR(16) NOT NULL CHECK (scope IN ('global', 'model', 'endpoint', 'user', 'app', 'key')),
    target     VARCHAR(100) NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    lifted_at  TIMESTAMPTZ,
    lifted_by  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_killswitches_active ON KillSwitches(id) WHERE lifted_at IS NULL;

-- Rebuilding a key budget's counter sums the key's rows of one month.
CREATE INDEX idx_usagelogs_key_created ON UsageLogs(key_id, created_at);

-- +goose Down
DROP INDEX idx_usagelogs_key_created;
DROP TABLE KillSwitches;
DROP TABLE Budgets;
