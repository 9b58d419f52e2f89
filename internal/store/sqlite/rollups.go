package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

// Option configures Open.
type Option func(*options)

type options struct {
	loc *time.Location
}

// WithBillingLocation sets the billing time zone: the usage rollups' days are
// calendar days there (default UTC). Open rebuilds the rollups when the zone
// differs from the one they were built in.
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

// rollupKey is one UsageRollups row.
type rollupKey struct {
	day, user, app, model string
}

// rollupDelta accumulates what a set of usage rows adds to UsageRollups.
type rollupDelta map[rollupKey]store.BillingAmounts

// add counts row r, created at created, into the day of loc it falls in.
func (d rollupDelta) add(loc *time.Location, r *store.UsageRecord, created time.Time) {
	app := ""
	if r.AppID != nil {
		app = *r.AppID
	}
	k := rollupKey{day: created.In(loc).Format(store.DayLayout), user: r.UserOID, app: app, model: r.Model}
	d[k] = d[k].Add(store.AmountsOf(*r))
}

// sortedKeys returns the keys of m in a fixed order (upserts in key order).
func sortedKeys[K comparable](m map[K]store.BillingAmounts, less func(a, b K) bool) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return less(keys[i], keys[j]) })
	return keys
}

// amountCols are the summed columns of every rollup table, in scan order.
const amountCols = `requests, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_nanos`

// addAmounts is the DO UPDATE clause adding the excluded amounts.
const addAmounts = `requests = requests + excluded.requests,
	prompt_tokens = prompt_tokens + excluded.prompt_tokens,
	completion_tokens = completion_tokens + excluded.completion_tokens,
	cached_tokens = cached_tokens + excluded.cached_tokens,
	reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
	cost_nanos = cost_nanos + excluded.cost_nanos`

func amountArgs(a store.BillingAmounts) []any {
	return []any{a.Requests, a.PromptTokens, a.CompletionTokens, a.CachedTokens,
		a.ReasoningTokens, int64(a.Cost)}
}

// The rollup upserts: each adds a key's amounts to its row.
const (
	upsertRollupsSQL = `INSERT INTO UsageRollups (day, user_oid, app_id, model, ` + amountCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (day, user_oid, app_id, model) DO UPDATE SET ` + addAmounts
	upsertMonthsSQL = `INSERT INTO UsageUserMonths (month, user_oid, ` + amountCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (month, user_oid) DO UPDATE SET ` + addAmounts
	upsertAppDaysSQL = `INSERT INTO UsageAppModelDays (day, app_id, model, ` + amountCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (day, app_id, model) DO UPDATE SET ` + addAmounts
)

// addRollups adds d to the three rollup tables inside tx.
func (s *Store) addRollups(ctx context.Context, tx *sql.Tx, d rollupDelta) error {
	if len(d) == 0 {
		return nil
	}
	if err := s.upsertRollups(ctx, tx, d); err != nil {
		return err
	}
	type monthKey struct{ month, user string }
	type appKey struct{ day, app, model string }
	months := map[monthKey]store.BillingAmounts{}
	apps := map[appKey]store.BillingAmounts{}
	for k, a := range d {
		mk := monthKey{k.day[:7] + "-01", k.user}
		months[mk] = months[mk].Add(a)
		ak := appKey{k.day, k.app, k.model}
		apps[ak] = apps[ak].Add(a)
	}
	err := upsertEach(ctx, tx.StmtContext(ctx, s.stmts.months), months, func(a, b monthKey) bool {
		return a.month < b.month || a.month == b.month && a.user < b.user
	}, func(k monthKey) []any { return []any{k.month, k.user} })
	if err != nil {
		return err
	}
	return upsertEach(ctx, tx.StmtContext(ctx, s.stmts.dailyApps), apps, func(a, b appKey) bool {
		if a.day != b.day {
			return a.day < b.day
		}
		return a.app < b.app || a.app == b.app && a.model < b.model
	}, func(k appKey) []any { return []any{k.day, k.app, k.model} })
}

// upsertRollups adds d to UsageRollups only.
func (s *Store) upsertRollups(ctx context.Context, tx *sql.Tx, d rollupDelta) error {
	return upsertEach(ctx, tx.StmtContext(ctx, s.stmts.rollups), d, func(a, b rollupKey) bool {
		switch {
		case a.day != b.day:
			return a.day < b.day
		case a.user != b.user:
			return a.user < b.user
		case a.app != b.app:
			return a.app < b.app
		}
		return a.model < b.model
	}, func(k rollupKey) []any { return []any{k.day, k.user, k.app, k.model} })
}

// upsertEach runs the upsert stmt (a transaction's) once per key of m, in key
// order, with the key's columns followed by its amounts, and closes it.
func upsertEach[K comparable](ctx context.Context, stmt *sql.Stmt,
	m map[K]store.BillingAmounts, less func(a, b K) bool, keyArgs func(K) []any) error {
	defer stmt.Close()
	for _, k := range sortedKeys(m, less) {
		if _, err := stmt.ExecContext(ctx, append(keyArgs(k), amountArgs(m[k])...)...); err != nil {
			return fmt.Errorf("rollup %v: %w", k, err)
		}
	}
	return nil
}

// syncRollupZone rebuilds the rollups when they were built in another time
// zone than the store's billing zone (after the migration's UTC backfill, or
// when the configured zone changed).
func (s *Store) syncRollupZone(ctx context.Context) error {
	var tz string
	err := s.db.QueryRowContext(ctx, `SELECT time_zone FROM UsageRollupState WHERE id = 1`).Scan(&tz)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: rollup state: %w", err)
	}
	if tz == s.loc.String() {
		return nil
	}
	return s.RebuildUsageRollups(ctx)
}

// RebuildUsageRollups recomputes the rollups of every day from the first one
// that still has raw rows, in the billing time zone, in one transaction.
// Earlier days (whose raw rows retention removed) keep their rollups.
func (s *Store) RebuildUsageRollups(ctx context.Context) error {
	return mapErr(s.inTx(ctx, func(tx *sql.Tx) error {
		var first sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT MIN(created_at) FROM UsageLogs`).Scan(&first); err != nil {
			return err
		}
		if first.Valid {
			t, err := parseTime(first.String)
			if err != nil {
				return err
			}
			if err := s.rebuildFrom(ctx, tx, t.In(s.loc)); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO UsageRollupState (id, time_zone) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET time_zone = excluded.time_zone`, s.loc.String())
		return err
	}), "sqlite: rebuild usage rollups")
}

// rebuildFrom replaces the rollups of the days from first's day on with the
// sums of the raw rows.
func (s *Store) rebuildFrom(ctx context.Context, tx *sql.Tx, first time.Time) error {
	day := first.Format(store.DayLayout)
	monthDay := day[:7] + "-01"
	d := rollupDelta{}
	rows, err := tx.QueryContext(ctx, `SELECT created_at, user_oid, app_id, model,
		prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_nanos FROM UsageLogs`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var r store.UsageRecord
		if err := rows.Scan(timeCol{&r.CreatedAt}, &r.UserOID, &r.AppID, &r.Model, &r.PromptTokens,
			&r.CompletionTokens, &r.CachedTokens, &r.ReasoningTokens, &r.Cost); err != nil {
			rows.Close()
			return err
		}
		d.add(s.loc, &r, r.CreatedAt)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, del := range []struct{ query, from string }{
		{`DELETE FROM UsageRollups WHERE day >= ?`, day},
		{`DELETE FROM UsageUserMonths WHERE month >= ?`, monthDay},
		{`DELETE FROM UsageAppModelDays WHERE day >= ?`, monthDay},
	} {
		if _, err := tx.ExecContext(ctx, del.query, del.from); err != nil {
			return err
		}
	}
	if err := s.upsertRollups(ctx, tx, d); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO UsageUserMonths (month, user_oid, `+amountCols+`)
		SELECT substr(day, 1, 7) || '-01', user_oid, SUM(requests), SUM(prompt_tokens),
			SUM(completion_tokens), SUM(cached_tokens), SUM(reasoning_tokens), SUM(cost_nanos)
		FROM UsageRollups WHERE day >= ? GROUP BY 1, 2`, monthDay); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO UsageAppModelDays (day, app_id, model, `+amountCols+`)
		SELECT day, app_id, model, SUM(requests), SUM(prompt_tokens), SUM(completion_tokens),
			SUM(cached_tokens), SUM(reasoning_tokens), SUM(cost_nanos)
		FROM UsageRollups WHERE day >= ? GROUP BY 1, 2, 3`, monthDay)
	return err
}
