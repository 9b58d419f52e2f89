package sqlite

import (
	"context"
	"database/sql"
	"strconv"

	"github.com/antigravity/gateway/internal/store"
)

// amountSums are the summed amount columns, in scan order.
const amountSums = `COALESCE(SUM(requests), 0), COALESCE(SUM(prompt_tokens), 0),
	COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cached_tokens), 0),
	COALESCE(SUM(reasoning_tokens), 0), COALESCE(SUM(cost_nanos), 0)`

// amountDest returns the scan destinations of a's columns.
func amountDest(a *store.BillingAmounts) []any {
	return []any{&a.Requests, &a.PromptTokens, &a.CompletionTokens, &a.CachedTokens,
		&a.ReasoningTokens, (*int64)(&a.Cost)}
}

// monthRange is the [from, to) day range of m as bound parameters.
func monthRange(m store.Month) []any { return []any{m.FirstDay(), m.Next().FirstDay()} }

// BillingTotals sums the month from UsageAppModelDays.
func (s *Store) BillingTotals(ctx context.Context, m store.Month) (store.BillingAmounts, error) {
	var a store.BillingAmounts
	err := s.db.QueryRowContext(ctx, `SELECT `+amountSums+` FROM UsageAppModelDays
		WHERE day >= ? AND day < ?`, monthRange(m)...).Scan(amountDest(&a)...)
	if err != nil {
		return store.BillingAmounts{}, mapErr(err, "sqlite: billing totals")
	}
	return a, nil
}

// BillingByUser lists the month's users from UsageUserMonths, by cost.
func (s *Store) BillingByUser(ctx context.Context, f store.BillingUserFilter) ([]store.BillingUserRow, int64, error) {
	const what = "sqlite: billing by user"
	filter := ` FROM UsageUserMonths m WHERE m.month = ?`
	args := []any{f.Month.FirstDay()}
	if f.Search != "" {
		filter += ` AND (m.user_oid LIKE ? ESCAPE '\' OR m.user_oid IN (
			SELECT oid FROM Users WHERE email LIKE ? ESCAPE '\'))`
		p := store.ContainsPattern(f.Search)
		args = append(args, p, p)
	}
	var total int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*)`+filter, args...).Scan(&total); err != nil {
		return nil, 0, mapErr(err, what)
	}
	// The page is chosen on UsageUserMonths alone; only its rows meet Users.
	page := `SELECT m.user_oid, m.requests, m.prompt_tokens, m.completion_tokens, m.cached_tokens,
		m.reasoning_tokens, m.cost_nanos` + filter + ` ORDER BY m.cost_nanos DESC, m.user_oid`
	switch {
	case f.Limit > 0:
		page += ` LIMIT ` + strconv.Itoa(f.Limit) + ` OFFSET ` + strconv.Itoa(max(f.Offset, 0))
	case f.Offset > 0:
		page += ` LIMIT -1 OFFSET ` + strconv.Itoa(f.Offset)
	}
	q := `WITH p AS (` + page + `)
		SELECT p.user_oid, COALESCE(u.email, ''), p.requests, p.prompt_tokens, p.completion_tokens,
			p.cached_tokens, p.reasoning_tokens, p.cost_nanos
		FROM p LEFT JOIN Users u ON u.oid = p.user_oid
		ORDER BY p.cost_nanos DESC, p.user_oid`
	out := []store.BillingUserRow{}
	err := s.each(ctx, q, args, func(rows *sql.Rows) error {
		var r store.BillingUserRow
		if err := rows.Scan(append([]any{&r.UserOID, &r.Email}, amountDest(&r.BillingAmounts)...)...); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, 0, mapErr(err, what)
	}
	return out, total, nil
}

// groupSums sums the amounts of a group under the columns' own names.
const groupSums = `SUM(requests) AS requests, SUM(prompt_tokens) AS prompt_tokens,
	SUM(completion_tokens) AS completion_tokens, SUM(cached_tokens) AS cached_tokens,
	SUM(reasoning_tokens) AS reasoning_tokens, SUM(cost_nanos) AS cost_nanos`

// dAmounts are the amount columns of the derived table d, in scan order.
const dAmounts = `d.requests, d.prompt_tokens, d.completion_tokens, d.cached_tokens,
	d.reasoning_tokens, d.cost_nanos`

// BillingByApp lists the month by app from UsageAppModelDays, by cost.
func (s *Store) BillingByApp(ctx context.Context, m store.Month) ([]store.BillingAppRow, error) {
	out := []store.BillingAppRow{}
	err := s.each(ctx, `SELECT d.app_id, COALESCE(a.name, ''), COALESCE(a.owner_id, ''), `+dAmounts+`
		FROM (SELECT app_id, `+groupSums+` FROM UsageAppModelDays
			WHERE day >= ? AND day < ? GROUP BY app_id) d
		LEFT JOIN Apps a ON a.app_id = d.app_id
		ORDER BY d.cost_nanos DESC, d.app_id`, monthRange(m), func(rows *sql.Rows) error {
		var r store.BillingAppRow
		if err := rows.Scan(append([]any{&r.AppID, &r.Name, &r.OwnerID}, amountDest(&r.BillingAmounts)...)...); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, mapErr(err, "sqlite: billing by app")
}

// BillingByModel lists the month by model from UsageAppModelDays, by cost.
func (s *Store) BillingByModel(ctx context.Context, m store.Month) ([]store.BillingModelRow, error) {
	out := []store.BillingModelRow{}
	err := s.each(ctx, `SELECT d.model, `+dAmounts+`
		FROM (SELECT model, `+groupSums+` FROM UsageAppModelDays
			WHERE day >= ? AND day < ? GROUP BY model) d
		ORDER BY d.cost_nanos DESC, d.model`, monthRange(m), func(rows *sql.Rows) error {
		var r store.BillingModelRow
		if err := rows.Scan(append([]any{&r.Model}, amountDest(&r.BillingAmounts)...)...); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, mapErr(err, "sqlite: billing by model")
}

// BillingByDay lists the month's days with usage from UsageAppModelDays.
func (s *Store) BillingByDay(ctx context.Context, m store.Month) ([]store.BillingDayRow, error) {
	out := []store.BillingDayRow{}
	err := s.each(ctx, `SELECT day, `+amountSums+` FROM UsageAppModelDays
		WHERE day >= ? AND day < ? GROUP BY day ORDER BY day`, monthRange(m), func(rows *sql.Rows) error {
		var r store.BillingDayRow
		var day string
		if err := rows.Scan(append([]any{&day}, amountDest(&r.BillingAmounts)...)...); err != nil {
			return err
		}
		t, err := store.BillingDay(day, s.loc)
		if err != nil {
			return err
		}
		r.Day = t
		out = append(out, r)
		return nil
	})
	return out, mapErr(err, "sqlite: billing by day")
}

// UserBilling folds the user's UsageRollups rows of the month.
func (s *Store) UserBilling(ctx context.Context, userOID string, m store.Month) (store.UserBilling, error) {
	var rs []store.UserRollupRow
	err := s.each(ctx, `SELECT r.day, r.app_id, COALESCE(a.name, ''), COALESCE(a.owner_id, ''), r.model,
			r.requests, r.prompt_tokens, r.completion_tokens, r.cached_tokens, r.reasoning_tokens, r.cost_nanos
		FROM UsageRollups r LEFT JOIN Apps a ON a.app_id = r.app_id AND r.app_id <> ''
		WHERE r.user_oid = ? AND r.day >= ? AND r.day < ?`,
		append([]any{userOID}, monthRange(m)...), func(rows *sql.Rows) error {
			var r store.UserRollupRow
			var day string
			if err := rows.Scan(append([]any{&day, &r.AppID, &r.AppName, &r.AppOwner, &r.Model},
				amountDest(&r.BillingAmounts)...)...); err != nil {
				return err
			}
			t, err := store.BillingDay(day, s.loc)
			if err != nil {
				return err
			}
			r.Day = t
			rs = append(rs, r)
			return nil
		})
	if err != nil {
		return store.UserBilling{}, mapErr(err, "sqlite: user billing")
	}
	return store.NewUserBilling(userOID, m, rs), nil
}

// each runs query and calls fn on every row.
func (s *Store) each(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
