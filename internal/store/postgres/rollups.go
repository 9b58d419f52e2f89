package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Option configures Open.
type Option func(*options)

type options struct {
	loc *time.Location
}

// WithBillingLocation sets the billing time zone: the usage rollups' days are
// calendar days there (default UTC). PostgreSQL computes the days, so loc must
// carry an IANA name the server knows (time.LoadLocation("Asia/Tokyo")), not
// time.Local or a fixed zone. Open rebuilds the rollups when the zone differs
// from the one they were built in; every replica must use the same zone.
func WithBillingLocation(loc *time.Location) Option {
	return func(o *options) {
		if loc != nil {
			o.loc = loc
		}
	}
}

func buildOptions(opts []Option) options {
	o := options{loc: time.UTC}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// BillingLocation is the time zone of the rollups' days.
func (s *Store) BillingLocation() *time.Location { return s.loc }

// rollupAmounts are the summed columns of every rollup table.
const rollupAmounts = `requests, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_nanos`

// sumAmounts sums the amounts of a group (SUM(bigint) is numeric: the casts
// make an overflow an error instead of a loss of precision).
const sumAmounts = `SUM(requests)::bigint, SUM(prompt_tokens)::bigint,
	SUM(completion_tokens)::bigint, SUM(cached_tokens)::bigint,
	SUM(reasoning_tokens)::bigint, SUM(cost_nanos)::bigint`

// addExcluded is the DO UPDATE clause adding the new amounts to a rollup row.
const addExcluded = `requests = t.requests + EXCLUDED.requests,
	prompt_tokens = t.prompt_tokens + EXCLUDED.prompt_tokens,
	completion_tokens = t.completion_tokens + EXCLUDED.completion_tokens,
	cached_tokens = t.cached_tokens + EXCLUDED.cached_tokens,
	reasoning_tokens = t.reasoning_tokens + EXCLUDED.reasoning_tokens,
	cost_nanos = t.cost_nanos + EXCLUDED.cost_nanos`

// usageInsertSQL is the one statement that inserts usage rows from source (a
// SELECT or VALUES producing usageColumns) and adds exactly the rows inserted
// (RETURNING skips those ON CONFLICT DO NOTHING dropped) to the three rollup
// tables; tz is the placeholder of the billing time zone's name. Each upsert
// takes its rows in key order, so concurrent batches lock rollup rows in the
// same order and cannot deadlock.
func usageInsertSQL(source, tz string) string {
	return `WITH ins AS (
		INSERT INTO UsageLogs (` + strings.Join(usageColumns(), ", ") + `) ` + source + `
		ON CONFLICT DO NOTHING
		RETURNING created_at, user_oid, app_id, model, prompt_tokens, completion_tokens,
			cached_tokens, reasoning_tokens, cost_nanos),
	d AS (
		SELECT (created_at AT TIME ZONE ` + tz + `)::date AS day, user_oid,
			COALESCE(app_id, '') AS app_id, model, COUNT(*) AS requests,
			SUM(prompt_tokens)::bigint AS prompt_tokens, SUM(completion_tokens)::bigint AS completion_tokens,
			SUM(cached_tokens)::bigint AS cached_tokens, SUM(reasoning_tokens)::bigint AS reasoning_tokens,
			SUM(cost_nanos)::bigint AS cost_nanos
		FROM ins GROUP BY 1, 2, 3, 4),
	r AS (
		INSERT INTO UsageRollups AS t (day, user_oid, app_id, model, ` + rollupAmounts + `)
		SELECT day, user_oid, app_id, model, ` + rollupAmounts + ` FROM d
		ORDER BY day, user_oid, app_id, model
		ON CONFLICT (day, user_oid, app_id, model) DO UPDATE SET ` + addExcluded + `),
	m AS (
		INSERT INTO UsageUserMonths AS t (month, user_oid, ` + rollupAmounts + `)
		SELECT date_trunc('month', day::timestamp)::date, user_oid, ` + sumAmounts + ` FROM d
		GROUP BY 1, 2 ORDER BY 1, 2
		ON CONFLICT (month, user_oid) DO UPDATE SET ` + addExcluded + `)
	INSERT INTO UsageAppModelDays AS t (day, app_id, model, ` + rollupAmounts + `)
	SELECT day, app_id, model, ` + sumAmounts + ` FROM d
	GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
	ON CONFLICT (day, app_id, model) DO UPDATE SET ` + addExcluded
}

// syncRollupZone rebuilds the rollups when they were built in another time
// zone than the store's billing zone (after the migration's UTC backfill, or
// when the configured zone changed).
func (s *Store) syncRollupZone(ctx context.Context) error {
	name := s.loc.String()
	if name == "Local" || name == "" {
		return fmt.Errorf("postgres: billing time zone %q: use an IANA name such as Asia/Tokyo", name)
	}
	if _, err := s.pool.Exec(ctx, `SELECT now() AT TIME ZONE $1`, name); err != nil {
		return fmt.Errorf("postgres: billing time zone %q: %w", name, err)
	}
	tz, err := s.rollupZone(ctx, s.pool)
	if err != nil || tz == name {
		return err
	}
	return s.rebuildRollups(ctx, false)
}

// querier is what reading the rollup state needs (a pool or a transaction).
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) rollupZone(ctx context.Context, q querier) (string, error) {
	var tz string
	err := q.QueryRow(ctx, `SELECT time_zone FROM UsageRollupState WHERE id = 1`).Scan(&tz)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("postgres: rollup state: %w", err)
	}
	return tz, nil
}

// RebuildUsageRollups recomputes the rollups of every day from the first one
// that still has raw rows, in the billing time zone, in one transaction that
// holds off concurrent usage inserts. Earlier days (whose partitions
// retention dropped) keep their rollups.
func (s *Store) RebuildUsageRollups(ctx context.Context) error {
	return s.rebuildRollups(ctx, true)
}

// rebuildRollups rebuilds; unless force, it does nothing when another
// replica has already rebuilt in the billing zone while this one waited for
// the lock.
func (s *Store) rebuildRollups(ctx context.Context, force bool) error {
	name := s.loc.String()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// SHARE ROW EXCLUSIVE conflicts with the ROW EXCLUSIVE lock of
		// InsertUsage's statement (raw rows and rollups are one statement) and
		// with another rebuild, not with readers.
		if _, err := tx.Exec(ctx, `LOCK TABLE UsageRollups, UsageUserMonths, UsageAppModelDays
			IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		if !force {
			if tz, err := s.rollupZone(ctx, tx); err != nil || tz == name {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil {
			return err
		}
		var first *time.Time
		if err := tx.QueryRow(ctx, `SELECT (MIN(created_at) AT TIME ZONE $1)::date FROM UsageLogs`,
			name).Scan(&first); err != nil {
			return err
		}
		if first != nil {
			if err := rebuildFrom(ctx, tx, name, first.Format("2006-01-02")); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO UsageRollupState (id, time_zone) VALUES (1, $1)
			ON CONFLICT (id) DO UPDATE SET time_zone = EXCLUDED.time_zone`, name)
		return err
	})
	return mapErr(err, "postgres: rebuild usage rollups")
}

// rebuildFrom replaces the rollups of the days from first (YYYY-MM-DD) on with
// the sums of the raw rows; the coarse tables are recomputed from UsageRollups
// from the start of first's month.
func rebuildFrom(ctx context.Context, tx pgx.Tx, tz, first string) error {
	steps := []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM UsageRollups WHERE day >= $1::date`, []any{first}},
		{`INSERT INTO UsageRollups (day, user_oid, app_id, model, ` + rollupAmounts + `)
			SELECT (created_at AT TIME ZONE $1)::date, user_oid, COALESCE(app_id, ''), model,
				COUNT(*), SUM(prompt_tokens)::bigint, SUM(completion_tokens)::bigint,
				SUM(cached_tokens)::bigint, SUM(reasoning_tokens)::bigint, SUM(cost_nanos)::bigint
			FROM UsageLogs GROUP BY 1, 2, 3, 4`, []any{tz}},
		{`DELETE FROM UsageUserMonths WHERE month >= date_trunc('month', $1::date::timestamp)::date`, []any{first}},
		{`INSERT INTO UsageUserMonths (month, user_oid, ` + rollupAmounts + `)
			SELECT date_trunc('month', day::timestamp)::date, user_oid, ` + sumAmounts + `
			FROM UsageRollups WHERE day >= date_trunc('month', $1::date::timestamp)::date
			GROUP BY 1, 2`, []any{first}},
		{`DELETE FROM UsageAppModelDays WHERE day >= date_trunc('month', $1::date::timestamp)::date`, []any{first}},
		{`INSERT INTO UsageAppModelDays (day, app_id, model, ` + rollupAmounts + `)
			SELECT day, app_id, model, ` + sumAmounts + `
			FROM UsageRollups WHERE day >= date_trunc('month', $1::date::timestamp)::date
			GROUP BY 1, 2, 3`, []any{first}},
	}
	for _, st := range steps {
		if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
			return err
		}
	}
	return nil
}
