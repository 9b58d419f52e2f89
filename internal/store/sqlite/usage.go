package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

const usageCols = `request_id, created_at, user_oid, key_id, app_id, model, endpoint_id, status,
	prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_nanos, latency_ms,
	ttft_ms, stream, error_code, delegation_method, attempts`

// InsertUsage writes the batch in one transaction: all rows or none. Rows whose
// request_id is already stored are skipped, so a retried batch counts once. A
// zero CreatedAt becomes now.
func (s *Store) InsertUsage(ctx context.Context, rows []store.UsageRecord) error {
	if len(rows) == 0 {
		return nil
	}
	for i := range rows {
		if rows[i].RequestID == "" {
			return fmt.Errorf("sqlite: insert usage: row %d: empty request_id", i)
		}
	}
	t := now()
	return mapErr(s.inTx(ctx, func(tx *sql.Tx) error {
		// ON CONFLICT rather than INSERT OR IGNORE: OR IGNORE would also skip
		// rows failing CHECK/NOT NULL constraints and break all-or-nothing.
		stmt, err := tx.PrepareContext(ctx, `
			INSERT INTO UsageLogs (`+usageCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (request_id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		// Only the rows actually inserted count towards the rollups.
		delta := rollupDelta{}
		var y yielder
		for i := range rows {
			y.maybe()
			r := &rows[i]
			created := r.CreatedAt
			if created.IsZero() {
				created = t
			}
			res, err := stmt.ExecContext(ctx, r.RequestID, fmtTime(created), r.UserOID, r.KeyID,
				r.AppID, r.Model, r.EndpointID, r.Status, r.PromptTokens, r.CompletionTokens,
				r.CachedTokens, r.ReasoningTokens, int64(r.Cost), r.LatencyMs, r.TTFTMs, r.Stream,
				r.ErrorCode, r.DelegationMethod, r.Attempts)
			if err != nil {
				return fmt.Errorf("row %d (%s): %w", i, r.RequestID, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				delta.add(s.loc, r, norm(created))
			}
		}
		return addRollups(ctx, tx, delta)
	}), "sqlite: insert usage")
}

// yieldEvery is how long a usage write runs before pausing for yieldPause.
const (
	yieldEvery = 100 * time.Microsecond
	yieldPause = 200 * time.Microsecond
)

// yielder pauses a long in-process write now and then. SQLite runs in this
// process (modernc.org/sqlite is plain Go), so a batch of a few hundred rows is
// milliseconds of work in one goroutine that never blocks. While it runs the
// scheduler does not poll the network (only sysmon does, every 10 ms), so with
// one CPU (GOMAXPROCS=1 when pinned) requests whose bytes arrived wait for the
// whole batch: +4–5 ms at p99 at 1,000 req/s. runtime.Gosched is not enough:
// the run queue is served before the network is polled. A sleep parks the
// writer long enough for the scheduler to poll the network and run the
// requests; the write then resumes. The transaction holds the write lock a
// few milliseconds longer, and only the usage writer writes often.
type yielder struct{ last time.Time }

func (y *yielder) maybe() {
	now := time.Now()
	if y.last.IsZero() {
		y.last = now
		return
	}
	if now.Sub(y.last) >= yieldEvery {
		time.Sleep(yieldPause)
		y.last = time.Now()
	}
}

// usageWhere turns a filter into a WHERE clause.
func usageWhere(f store.UsageFilter) where {
	var w where
	if f.UserOID != "" {
		w.add("user_oid = ?", f.UserOID)
	}
	if f.AppID != "" {
		w.add("app_id = ?", f.AppID)
	}
	if f.Model != "" {
		w.add("model = ?", f.Model)
	}
	if f.RequestID != "" {
		w.add("request_id = ?", f.RequestID)
	}
	if !f.Since.IsZero() {
		w.add("created_at >= ?", fmtTime(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("created_at < ?", fmtTime(f.Until))
	}
	return w
}

// ListUsage lists rows matching f, newest first.
func (s *Store) ListUsage(ctx context.Context, f store.UsageFilter) ([]store.UsageRecord, error) {
	w := usageWhere(f)
	p := f.Page.Normalized()
	rows, err := s.db.QueryContext(ctx, `SELECT `+usageCols+` FROM UsageLogs`+w.String()+`
		ORDER BY created_at DESC, request_id DESC LIMIT ? OFFSET ?`,
		append(w.args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, mapErr(err, "sqlite: list usage")
	}
	defer rows.Close()
	out := []store.UsageRecord{}
	for rows.Next() {
		var r store.UsageRecord
		if err := rows.Scan(&r.RequestID, timeCol{&r.CreatedAt}, &r.UserOID, &r.KeyID, &r.AppID,
			&r.Model, &r.EndpointID, &r.Status, &r.PromptTokens, &r.CompletionTokens,
			&r.CachedTokens, &r.ReasoningTokens, &r.Cost, &r.LatencyMs, &r.TTFTMs, &r.Stream,
			&r.ErrorCode, &r.DelegationMethod, &r.Attempts); err != nil {
			return nil, mapErr(err, "sqlite: list usage")
		}
		out = append(out, r)
	}
	return out, mapErr(rows.Err(), "sqlite: list usage")
}

// SumUsage totals the rows matching f (its page is ignored).
func (s *Store) SumUsage(ctx context.Context, f store.UsageFilter) (store.UsageTotals, error) {
	w := usageWhere(f)
	var t store.UsageTotals
	err := s.db.QueryRowContext(ctx, `
		SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),
			COALESCE(SUM(cost_nanos), 0)
		FROM UsageLogs`+w.String(), w.args...).
		Scan(&t.Requests, &t.PromptTokens, &t.CompletionTokens, &t.Cost)
	if err != nil {
		return store.UsageTotals{}, mapErr(err, "sqlite: sum usage")
	}
	return t, nil
}

// EnsureUsagePartitions is a no-op: SQLite's UsageLogs is not partitioned.
func (s *Store) EnsureUsagePartitions(ctx context.Context, months ...time.Time) error {
	return nil
}
