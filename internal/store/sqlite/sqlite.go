// Package sqlite is the SQLite back-end of store.Store (pure Go, modernc.org/sqlite).
// It suits a single gateway replica; the schema mirrors the PostgreSQL one, with
// timestamps kept as fixed-width UTC text and arrays as JSON text.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/antigravity/gateway/internal/store"
)

// Store is a store.Store on one SQLite database file.
type Store struct {
	db    *sql.DB
	loc   *time.Location // billing time zone of the usage rollups
	stmts *writerStmts
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the SQLite database at path with WAL, a busy
// timeout and foreign keys on, and applies the embedded migrations.
// ":memory:" gives a private in-memory database (one connection).
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	db, err := openDB(path)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	stmts, err := prepareWriterStmts(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, loc: buildOptions(opts).loc, stmts: stmts}
	if err := s.syncRollupZone(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openDB opens the database handle with the connection settings every
// connection of the pool needs.
func openDB(path string) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: database path %q must not contain '?' or '#'", path)
	}
	// _txlock=immediate takes the write lock at BEGIN so that concurrent
	// writers wait on busy_timeout instead of failing on a lock upgrade.
	// temp_store(MEMORY) keeps statement journals (multi-row usage inserts)
	// and temporary tables in memory: past 64 KiB they otherwise spill to a
	// temporary file, created and opened per statement (hundreds of µs of
	// syscalls in the usage writer, on the request path's core).
	dsn := path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		// Every connection would otherwise see its own empty database.
		db.SetMaxOpenConns(1)
	} else {
		db.SetMaxOpenConns(8)
	}
	db.SetMaxIdleConns(8)
	return db, nil
}

// Ping checks the database is reachable.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Dialect returns "sqlite".
func (s *Store) Dialect() string { return "sqlite" }

// Close closes the database.
func (s *Store) Close() error { return errors.Join(s.stmts.close(), s.db.Close()) }

// DB exposes the underlying handle (for tests and maintenance tools).
func (s *Store) DB() *sql.DB { return s.db }

// timeLayout is the stored form of every timestamp: UTC, microseconds, fixed
// width, so string order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// now is the current time as stored (UTC, microsecond precision).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// norm returns t in UTC truncated to microseconds, as it will read back.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func fmtTime(t time.Time) string { return norm(t).Format(timeLayout) }

// fmtTimePtr formats t, or returns NULL for nil.
func fmtTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return fmtTime(*t)
}

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := norm(*t)
	return &v
}

func parseTime(src any) (time.Time, error) {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	case time.Time:
		return norm(v), nil
	default:
		return time.Time{}, fmt.Errorf("sqlite: cannot read %T as a timestamp", src)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: bad timestamp %q: %w", s, err)
	}
	return norm(t), nil
}

// timeCol scans a NOT NULL timestamp column.
type timeCol struct{ dst *time.Time }

func (c timeCol) Scan(src any) error {
	if src == nil {
		*c.dst = time.Time{}
		return nil
	}
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*c.dst = t
	return nil
}

// nullTimeCol scans a nullable timestamp column into a *time.Time.
type nullTimeCol struct{ dst **time.Time }

func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.dst = nil
		return nil
	}
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*c.dst = &t
	return nil
}

// mapErr wraps err with what, translating constraint failures and missing rows
// into the store sentinels.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: %w", what, store.ErrConflict)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%s: %w", what, store.ErrReferenced)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// where accumulates AND-ed conditions with their ? arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// sets accumulates the SET clause of an UPDATE built from a patch.
type sets struct {
	cols []string
	args []any
}

func (s *sets) add(col string, v any) {
	s.cols = append(s.cols, col+" = ?")
	s.args = append(s.args, v)
}

func (s *sets) empty() bool { return len(s.cols) == 0 }

func (s *sets) String() string { return strings.Join(s.cols, ", ") }

// inTx runs fn in a transaction, committing if it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	// On every path, a panic in fn included: the transaction holds the one
	// writer connection. After a commit this does nothing.
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
