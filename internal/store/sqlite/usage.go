package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

const usageCols = `request_id, created_at, user_oid, key_id, app_id, model, endpoint_id, status,
	prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_nanos, latency_ms,
	ttft_ms, stream, error_code, delegation_method, attempts`

// usageChunk is how many rows one INSERT statement writes. A statement runs
// without a pause, so the chunk bounds how long the usage writer holds the
// only CPU of a pinned gateway: about 25 µs a row (two B-tree inserts plus
// the indexes), so 8 rows are about 0.2 ms, where 32 were 0.8–4 ms on a busy
// VM and showed in the requests' p99 (execution traces, issue 2). Statements
// are prepared once (writerStmts): without the pauses, 8-row statements cost the
// same CPU as 32-row ones (BenchmarkInsertUsage, 5.9 ms per 256 rows). The
// pauses are what costs: with -cpu 1, 6.5 ms against 4.9 ms per 256 rows, since
// an otherwise idle process parks its thread at each; a busy gateway runs
// requests in them instead. 8 rows bind 152 parameters, far below SQLite's
// limit.
const usageChunk = 8

// usageParams is the number of columns of usageCols, bound once per row.
const usageParams = 19

// insertUsageSQL is the INSERT of n rows that skips the request ids already
// stored and returns the ids it inserted.
func insertUsageSQL(n int) string {
	const head = "INSERT INTO UsageLogs (" + usageCols + ") VALUES "
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	// ON CONFLICT rather than INSERT OR IGNORE: OR IGNORE would also skip
	// rows failing CHECK/NOT NULL constraints and break all-or-nothing.
	const tail = " ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
	var b strings.Builder
	b.Grow(len(head) + n*(len(row)+1) + len(tail))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	return b.String()
}

// InsertUsage writes the batch in one transaction: all rows or none. Rows whose
// request_id is already stored are skipped, so a retried batch counts once; of
// rows sharing a request_id within the batch, the first is kept. A zero
// CreatedAt becomes now. Rows go usageChunk to a statement.
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
	created := func(r *store.UsageRecord) time.Time {
		if r.CreatedAt.IsZero() {
			return t
		}
		return r.CreatedAt
	}
	return mapErr(s.inTx(ctx, func(tx *sql.Tx) error {
		// Only the rows actually inserted count towards the rollups.
		delta := rollupDelta{}
		args := make([]any, 0, min(len(rows), usageChunk)*usageParams)
		var id sql.RawBytes
		var y store.Pacer
		for lo := 0; lo < len(rows); lo += usageChunk {
			y.Maybe() // between statements: a statement is not interrupted
			chunk := rows[lo:min(lo+usageChunk, len(rows))]
			args = args[:0]
			for i := range chunk {
				r := &chunk[i]
				args = append(args, r.RequestID, fmtTime(created(r)), r.UserOID, r.KeyID,
					r.AppID, r.Model, r.EndpointID, r.Status, r.PromptTokens, r.CompletionTokens,
					r.CachedTokens, r.ReasoningTokens, int64(r.Cost), r.LatencyMs, r.TTFTMs, r.Stream,
					r.ErrorCode, r.DelegationMethod, r.Attempts)
			}
			stmt := tx.StmtContext(ctx, s.stmts.insert[len(chunk)])
			res, err := stmt.QueryContext(ctx, args...)
			if err == nil {
				err = addInserted(res, &id, chunk, func(r *store.UsageRecord) {
					delta.add(s.loc, r, norm(created(r)))
				})
			}
			if err != nil {
				last := lo + len(chunk) - 1
				return fmt.Errorf("rows %d-%d (%s to %s): %w", lo, last,
					rows[lo].RequestID, rows[last].RequestID, err)
			}
			_ = stmt.Close()
		}
		y.Maybe()
		if err := s.addRollups(ctx, tx, delta); err != nil {
			return err
		}
		y.Maybe() // the commit writes the WAL frames
		return nil
	}), "sqlite: insert usage")
}

// addInserted reads the request ids that the INSERT of chunk returned (those
// it stored) and calls add with the row of each: the first of the chunk with
// that id, the one SQLite inserted (later ones conflicted with it). It closes
// res.
func addInserted(res *sql.Rows, id *sql.RawBytes, chunk []store.UsageRecord,
	add func(r *store.UsageRecord)) error {
	defer res.Close()
	for res.Next() {
		if err := res.Scan(id); err != nil {
			return err
		}
		i := 0
		for i < len(chunk) && chunk[i].RequestID != string(*id) {
			i++
		}
		if i == len(chunk) {
			return fmt.Errorf("returned request_id %q is not in the batch", *id)
		}
		add(&chunk[i])
	}
	if err := res.Err(); err != nil {
		return err
	}
	return res.Close()
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
