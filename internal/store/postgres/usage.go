package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// usageColumns lists the UsageLogs columns in the order of the insert values.
func usageColumns() []string {
	return []string{"request_id", "created_at", "user_oid", "key_id", "app_id", "model",
		"endpoint_id", "status", "prompt_tokens", "completion_tokens", "cached_tokens",
		"reasoning_tokens", "cost_nanos", "latency_ms", "ttft_ms", "stream", "error_code",
		"delegation_method", "attempts"}
}

// InsertUsage writes the batch in one transaction: all rows or none. Rows whose
// (request_id, created_at) is already stored are skipped, so a retried batch
// counts once. A zero CreatedAt becomes now. The partitions of the batch's
// months are created first when missing.
//
// A batch is copied (COPY) into a temporary staging table and moved with
// INSERT … SELECT … ON CONFLICT DO NOTHING; a single row is inserted directly.
// The same statement adds the rows it inserted to the rollups (usageInsertSQL).
func (s *Store) InsertUsage(ctx context.Context, rows []store.UsageRecord) error {
	if len(rows) == 0 {
		return nil
	}
	t := now()
	created := make([]time.Time, len(rows))
	months := map[time.Time]bool{}
	for i := range rows {
		r := &rows[i]
		if r.RequestID == "" {
			return fmt.Errorf("postgres: insert usage: row %d: empty request_id", i)
		}
		created[i] = t
		if !r.CreatedAt.IsZero() {
			created[i] = norm(r.CreatedAt)
		}
		months[monthStart(created[i])] = true
	}
	values := &usageRows{rows: rows, created: created}
	ensure := func() error {
		for m := range months {
			if err := s.ensurePartition(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
	if err := ensure(); err != nil {
		return err
	}
	err := s.insertUsage(ctx, values)
	if isMissingPartition(err) {
		// A partition known to this process was dropped: forget and retry once.
		s.mu.Lock()
		for m := range months {
			delete(s.partitions, PartitionName(m))
		}
		s.mu.Unlock()
		if err := ensure(); err != nil {
			return err
		}
		err = s.insertUsage(ctx, values)
	}
	return mapErr(err, "postgres: insert usage")
}

func (s *Store) insertUsage(ctx context.Context, values *usageRows) error {
	cols := strings.Join(usageColumns(), ", ")
	if len(values.rows) == 1 {
		_, err := s.pool.Exec(ctx, usageInsertSQL(`
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
			`$20`), append(values.row(0), s.loc.String())...)
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The staging table has the columns and defaults but no constraints:
		// they are checked by the INSERT into UsageLogs, which fails the batch.
		if _, err := tx.Exec(ctx, `
			CREATE TEMP TABLE usage_staging (LIKE UsageLogs INCLUDING DEFAULTS) ON COMMIT DROP`); err != nil {
			return err
		}
		values.i = 0
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"usage_staging"}, usageColumns(), values); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, usageInsertSQL(`SELECT `+cols+` FROM usage_staging`, `$1`), s.loc.String())
		return err
	})
}

// usageRows is the COPY source of a usage batch. pgx encodes the rows as it
// reads them, which for a batch of hundreds is about a millisecond of CPU
// without a blocking call; on a gateway with one core (or one P) the requests
// in flight would wait that long. It boxes each row's values only when pgx
// reads it (boxing them all up front was such a run of its own, before the
// transaction began) and paces the reading with a store.Pacer.
type usageRows struct {
	rows    []store.UsageRecord
	created []time.Time // each row's created_at, normalized
	i       int
	pace    store.Pacer
}

func (u *usageRows) Next() bool {
	u.pace.Maybe()
	u.i++
	return u.i <= len(u.rows)
}

func (u *usageRows) Values() ([]any, error) { return u.row(u.i - 1), nil }

func (u *usageRows) Err() error { return nil }

// row is the i-th row's values in usageColumns' order.
func (u *usageRows) row(i int) []any {
	r := &u.rows[i]
	return []any{r.RequestID, u.created[i], r.UserOID, r.KeyID, r.AppID, r.Model,
		r.EndpointID, int32(r.Status), r.PromptTokens, r.CompletionTokens, r.CachedTokens,
		r.ReasoningTokens, int64(r.Cost), r.LatencyMs, r.TTFTMs, r.Stream, r.ErrorCode,
		r.DelegationMethod, int32(r.Attempts)}
}

// isMissingPartition reports the error of a row that fits no partition.
func isMissingPartition(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514" && strings.Contains(pe.Message, "no partition")
}

const usageSelect = `SELECT request_id, created_at, user_oid, key_id, app_id, model, endpoint_id,
	status, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_nanos,
	latency_ms, ttft_ms, stream, error_code, delegation_method, attempts FROM UsageLogs`

// usageWhere turns a filter into a WHERE clause; times bound created_at, so
// PostgreSQL prunes the partitions outside the range.
func usageWhere(f store.UsageFilter, args *params) where {
	var w where
	if f.UserOID != "" {
		w.add("user_oid = " + args.add(f.UserOID))
	}
	if f.AppID != "" {
		w.add("app_id = " + args.add(f.AppID))
	}
	if f.Model != "" {
		w.add("model = " + args.add(f.Model))
	}
	if f.RequestID != "" {
		w.add("request_id = " + args.add(f.RequestID))
	}
	if !f.Since.IsZero() {
		w.add("created_at >= " + args.add(norm(f.Since)))
	}
	if !f.Until.IsZero() {
		w.add("created_at < " + args.add(norm(f.Until)))
	}
	return w
}

func scanUsage(r rowScanner) (store.UsageRecord, error) {
	var u store.UsageRecord
	var status, attempts int32
	var cost int64
	err := r.Scan(&u.RequestID, &u.CreatedAt, &u.UserOID, &u.KeyID, &u.AppID, &u.Model,
		&u.EndpointID, &status, &u.PromptTokens, &u.CompletionTokens, &u.CachedTokens,
		&u.ReasoningTokens, &cost, &u.LatencyMs, &u.TTFTMs, &u.Stream, &u.ErrorCode,
		&u.DelegationMethod, &attempts)
	u.Status, u.Attempts = int(status), int(attempts)
	u.Cost = money.Nanos(cost)
	fixTime(&u.CreatedAt)
	return u, err
}

// ListUsage lists rows matching f, newest first.
func (s *Store) ListUsage(ctx context.Context, f store.UsageFilter) ([]store.UsageRecord, error) {
	var args params
	w := usageWhere(f, &args)
	p := f.Page.Normalized()
	rows, err := s.pool.Query(ctx, usageSelect+w.String()+
		` ORDER BY created_at DESC, request_id DESC LIMIT `+args.add(p.Limit)+` OFFSET `+args.add(p.Offset),
		args...)
	if err != nil {
		return nil, mapErr(err, "postgres: list usage")
	}
	out, err := collect(rows, scanUsage)
	return out, mapErr(err, "postgres: list usage")
}

// SumUsage totals the rows matching f (its page is ignored).
func (s *Store) SumUsage(ctx context.Context, f store.UsageFilter) (store.UsageTotals, error) {
	var args params
	w := usageWhere(f, &args)
	var t store.UsageTotals
	var cost int64
	// SUM(bigint) is numeric: cast back so an overflow errors instead of
	// silently losing precision.
	err := s.pool.QueryRow(ctx, `
		SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0)::bigint,
			COALESCE(SUM(completion_tokens), 0)::bigint, COALESCE(SUM(cost_nanos), 0)::bigint
		FROM UsageLogs`+w.String(), args...).
		Scan(&t.Requests, &t.PromptTokens, &t.CompletionTokens, &cost)
	if err != nil {
		return store.UsageTotals{}, mapErr(err, "postgres: sum usage")
	}
	t.Cost = money.Nanos(cost)
	return t, nil
}
