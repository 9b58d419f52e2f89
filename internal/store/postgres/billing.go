package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

// amountSums are the summed amount columns, in scan order.
const amountSums = `COALESCE(SUM(requests), 0)::bigint, COALESCE(SUM(prompt_tokens), 0)::bigint,
	COALESCE(SUM(completion_tokens), 0)::bigint, COALESCE(SUM(cached_tokens), 0)::bigint,
	COALESCE(SUM(reasoning_tokens), 0)::bigint, COALESCE(SUM(cost_nanos), 0)::bigint`

// groupSums sums the amounts of a group under the columns' own names.
const groupSums = `SUM(requests)::bigint AS requests, SUM(prompt_tokens)::bigint AS prompt_tokens,
	SUM(completion_tokens)::bigint AS completion_tokens, SUM(cached_tokens)::bigint AS cached_tokens,
	SUM(reasoning_tokens)::bigint AS reasoning_tokens, SUM(cost_nanos)::bigint AS cost_nanos`

// dAmounts are the amount columns of the derived table d, in scan order.
const dAmounts = `d.requests, d.prompt_tokens, d.completion_tokens, d.cached_tokens,
	d.reasoning_tokens, d.cost_nanos`

// amountDest returns the scan destinations of a's columns.
func amountDest(a *store.BillingAmounts) []any {
	return []any{&a.Requests, &a.PromptTokens, &a.CompletionTokens, &a.CachedTokens,
		&a.ReasoningTokens, (*int64)(&a.Cost)}
}

// monthRange is the [from, to) day range of m as bound parameters.
func monthRange(m store.Month) []any { return []any{m.FirstDay(), m.Next().FirstDay()} }

// day turns a scanned DATE into midnight of that day in the billing zone.
func (s *Store) day(d time.Time) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, s.loc)
}

// BillingTotals sums the month from UsageAppModelDays.
func (s *Store) BillingTotals(ctx context.Context, m store.Month) (store.BillingAmounts, error) {
	var a store.BillingAmounts
	err := s.pool.QueryRow(ctx, `SELECT `+amountSums+` FROM UsageAppModelDays
		WHERE day >= $1::date AND day < $2::date`, monthRange(m)...).Scan(amountDest(&a)...)
	if err != nil {
		return store.BillingAmounts{}, mapErr(err, "postgres: billing totals")
	}
	return a, nil
}

// BillingByUser lists the month's users from UsageUserMonths, by cost. The
// page is chosen on UsageUserMonths alone (the index on (month, cost_nanos
// DESC, user_oid) serves it without sorting) and only its rows are joined to
// Users. The search compares bytes under the C collation (ASCII case folding,
// as SQLite's LIKE), several times faster than the database collation.
func (s *Store) BillingByUser(ctx context.Context, f store.BillingUserFilter) ([]store.BillingUserRow, int64, error) {
	const what = "postgres: billing by user"
	args := params{}
	filter := `m.month = ` + args.add(f.Month.FirstDay()) + `::date`
	n := `0::bigint`
	if f.Search != "" {
		p := args.add(store.ContainsPattern(f.Search))
		filter += ` AND (m.user_oid COLLATE "C" ILIKE ` + p + ` OR m.user_oid IN (
			SELECT oid FROM Users WHERE email COLLATE "C" ILIKE ` + p + `))`
		// The filter reads every row anyway: count the matches in the same pass.
		n = `COUNT(*) OVER ()`
	}
	page := `SELECT m.user_oid, m.requests, m.prompt_tokens, m.completion_tokens, m.cached_tokens,
			m.reasoning_tokens, m.cost_nanos, ` + n + ` AS matches
		FROM UsageUserMonths m WHERE ` + filter + ` ORDER BY m.cost_nanos DESC, m.user_oid`
	if f.Limit > 0 {
		page += ` LIMIT ` + strconv.Itoa(f.Limit)
	}
	if f.Offset > 0 {
		page += ` OFFSET ` + strconv.Itoa(f.Offset)
	}
	rows, err := s.pool.Query(ctx, `WITH p AS (`+page+`)
		SELECT p.user_oid, COALESCE(u.email, ''), p.requests, p.prompt_tokens, p.completion_tokens,
			p.cached_tokens, p.reasoning_tokens, p.cost_nanos, p.matches
		FROM p LEFT JOIN Users u ON u.oid = p.user_oid
		ORDER BY p.cost_nanos DESC, p.user_oid`, args...)
	if err != nil {
		return nil, 0, mapErr(err, what)
	}
	var total int64
	out, err := collect(rows, func(r rowScanner) (store.BillingUserRow, error) {
		var u store.BillingUserRow
		err := r.Scan(append(append([]any{&u.UserOID, &u.Email}, amountDest(&u.BillingAmounts)...), &total)...)
		return u, err
	})
	if err != nil {
		return nil, 0, mapErr(err, what)
	}
	if f.Search == "" || len(out) == 0 {
		if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM UsageUserMonths m WHERE `+filter, args...).Scan(&total); err != nil {
			return nil, 0, mapErr(err, what)
		}
	}
	return out, total, nil
}

// BillingByApp lists the month by app from UsageAppModelDays, by cost.
func (s *Store) BillingByApp(ctx context.Context, m store.Month) ([]store.BillingAppRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.app_id, COALESCE(a.name, ''), COALESCE(a.owner_id, ''), `+dAmounts+`
		FROM (SELECT app_id, `+groupSums+` FROM UsageAppModelDays
			WHERE day >= $1::date AND day < $2::date GROUP BY app_id) d
		LEFT JOIN Apps a ON a.app_id = d.app_id
		ORDER BY d.cost_nanos DESC, d.app_id`, monthRange(m)...)
	if err != nil {
		return nil, mapErr(err, "postgres: billing by app")
	}
	out, err := collect(rows, func(r rowScanner) (store.BillingAppRow, error) {
		var a store.BillingAppRow
		err := r.Scan(append([]any{&a.AppID, &a.Name, &a.OwnerID}, amountDest(&a.BillingAmounts)...)...)
		return a, err
	})
	return out, mapErr(err, "postgres: billing by app")
}

// BillingByModel lists the month by model from UsageAppModelDays, by cost.
func (s *Store) BillingByModel(ctx context.Context, m store.Month) ([]store.BillingModelRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.model, `+dAmounts+`
		FROM (SELECT model, `+groupSums+` FROM UsageAppModelDays
			WHERE day >= $1::date AND day < $2::date GROUP BY model) d
		ORDER BY d.cost_nanos DESC, d.model`, monthRange(m)...)
	if err != nil {
		return nil, mapErr(err, "postgres: billing by model")
	}
	out, err := collect(rows, func(r rowScanner) (store.BillingModelRow, error) {
		var b store.BillingModelRow
		err := r.Scan(append([]any{&b.Model}, amountDest(&b.BillingAmounts)...)...)
		return b, err
	})
	return out, mapErr(err, "postgres: billing by model")
}

// BillingByDay lists the month's days with usage from UsageAppModelDays.
func (s *Store) BillingByDay(ctx context.Context, m store.Month) ([]store.BillingDayRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT day, `+amountSums+` FROM UsageAppModelDays
		WHERE day >= $1::date AND day < $2::date GROUP BY day ORDER BY day`, monthRange(m)...)
	if err != nil {
		return nil, mapErr(err, "postgres: billing by day")
	}
	out, err := collect(rows, func(r rowScanner) (store.BillingDayRow, error) {
		var b store.BillingDayRow
		err := r.Scan(append([]any{&b.Day}, amountDest(&b.BillingAmounts)...)...)
		b.Day = s.day(b.Day)
		return b, err
	})
	return out, mapErr(err, "postgres: billing by day")
}

// UserBilling folds the user's UsageRollups rows of the month.
func (s *Store) UserBilling(ctx context.Context, userOID string, m store.Month) (store.UserBilling, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.day, r.app_id, COALESCE(a.name, ''), COALESCE(a.owner_id, ''),
			r.model, r.requests, r.prompt_tokens, r.completion_tokens, r.cached_tokens,
			r.reasoning_tokens, r.cost_nanos
		FROM UsageRollups r LEFT JOIN Apps a ON a.app_id = r.app_id AND r.app_id <> ''
		WHERE r.user_oid = $1 AND r.day >= $2::date AND r.day < $3::date`,
		append([]any{userOID}, monthRange(m)...)...)
	if err != nil {
		return store.UserBilling{}, mapErr(err, "postgres: user billing")
	}
	rs, err := collect(rows, func(r rowScanner) (store.UserRollupRow, error) {
		var u store.UserRollupRow
		err := r.Scan(append([]any{&u.Day, &u.AppID, &u.AppName, &u.AppOwner, &u.Model},
			amountDest(&u.BillingAmounts)...)...)
		u.Day = s.day(u.Day)
		return u, err
	})
	if err != nil {
		return store.UserBilling{}, mapErr(err, "postgres: user billing")
	}
	return store.NewUserBilling(userOID, m, rs), nil
}
