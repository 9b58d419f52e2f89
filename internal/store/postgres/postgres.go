// Package postgres is the PostgreSQL back-end of store.Store (pgx v5, pgxpool).
// Several gateway replicas may share one database: migrations run under an
// advisory lock and monthly UsageLogs partitions are created idempotently.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/antigravity/gateway/internal/store"
)

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool

	// loc is the billing time zone of the usage rollups.
	loc *time.Location

	// partitions remembers the UsageLogs partitions known to exist.
	mu         sync.Mutex
	partitions map[string]bool
}

var _ store.Store = (*Store)(nil)

// Open applies the embedded migrations to the database at url, connects a pool
// whose sessions run in UTC, and makes sure the UsageLogs partitions of the
// current and next month exist.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	if err := Migrate(ctx, url); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		// Read timestamptz values in UTC rather than the process's local zone.
		c.TypeMap().RegisterType(&pgtype.Type{
			Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool, loc: buildOptions(opts).loc, partitions: map[string]bool{}}
	t := time.Now().UTC()
	if err := s.EnsureUsagePartitions(ctx, t, monthStart(t).AddDate(0, 1, 0)); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.syncRollupZone(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks the database is reachable.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Dialect returns "postgres".
func (s *Store) Dialect() string { return "postgres" }

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool exposes the underlying pool (for tests and maintenance tools).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// now is the current time as stored (UTC, microsecond precision).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// norm returns t in UTC truncated to microseconds, as it will read back.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := norm(*t)
	return &v
}

// fixTime brings a scanned time to UTC (TIMESTAMP columns, and defensively
// TIMESTAMPTZ ones).
func fixTime(t *time.Time) { *t = norm(*t) }

func fixTimePtr(t **time.Time) {
	if *t != nil {
		v := norm(**t)
		*t = &v
	}
}

// mapErr wraps err with what, translating constraint failures and missing rows
// into the store sentinels.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%s: %w (%s)", what, store.ErrConflict, pe.ConstraintName)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%s: %w (%s)", what, store.ErrReferenced, pe.ConstraintName)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// params numbers query arguments as $1, $2, …
type params []any

func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// where accumulates AND-ed conditions.
type where []string

func (w *where) add(cond string) { *w = append(*w, cond) }

func (w where) String() string {
	if len(w) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w, " AND ")
}

// sets accumulates the SET clause of an UPDATE built from a patch.
type sets struct {
	cols []string
	args params
}

func (s *sets) add(col string, v any) { s.cols = append(s.cols, col+" = "+s.args.add(v)) }

func (s *sets) empty() bool { return len(s.cols) == 0 }

func (s *sets) String() string { return strings.Join(s.cols, ", ") }

// execOne runs a statement and reports ErrNotFound when it touched no row.
func (s *Store) execOne(ctx context.Context, what, query string, args ...any) error {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return mapErr(err, what)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}
