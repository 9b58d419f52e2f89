-- +goose Up
-- Explicit monthly budgets (nano-USD) of users, apps and keys; what was spent is
-- the sum of UsageLogs.cost_nanos, so it is not stored here.
CREATE TABLE Budgets (
    scope         TEXT NOT NULL CHECK (scope IN ('user', 'app', 'key')),
    target        TEXT NOT NULL CHECK (length(target) BETWEEN 1 AND 50),
    monthly_nanos INTEGER NOT NULL CHECK (monthly_nanos >= 0),
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (scope, target)
);

-- Kill switches; a lifted switch keeps its row (lifted_at set) for history.
CREATE TABLE KillSwitches (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    scope      TEXT NOT NULL CHECK (scope IN ('global', 'model', 'endpoint', 'user', 'app', 'key')),
    target     TEXT NOT NULL DEFAULT '' CHECK (length(target) <= 100),
    reason     TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    lifted_at  TEXT,
    lifted_by  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_killswitches_active ON KillSwitches(lifted_at);

-- Rebuilding a key budget's counter sums the key's rows of one month.
CREATE INDEX idx_usagelogs_key_created ON UsageLogs(key_id, created_at);

-- +goose Down
DROP INDEX idx_usagelogs_key_created;
DROP TABLE KillSwitches;
DROP TABLE Budgets;
