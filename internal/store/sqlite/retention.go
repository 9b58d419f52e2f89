package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// retentionChunk bounds the rows one DELETE removes, so retention never holds
// the database's write lock for long.
const retentionChunk = 5000

// DropUsagePartitionsBefore deletes the UsageLogs rows created before the UTC
// month of before, keeping the rollups. SQLite has no partitions: this is the
// single-node embedded mode, so the rows are deleted (in chunks of
// retentionChunk, each its own transaction) to keep the file bounded. It
// returns the names the PostgreSQL partitions of the emptied months would have
// (usagelogs_YYYY_MM), oldest first.
func (s *Store) DropUsagePartitionsBefore(ctx context.Context, before time.Time) ([]string, error) {
	const what = "sqlite: drop usage before"
	b := before.UTC()
	cutoff := fmtTime(time.Date(b.Year(), b.Month(), 1, 0, 0, 0, 0, time.UTC))
	var months []string
	err := s.each(ctx, `SELECT DISTINCT substr(created_at, 1, 7) FROM UsageLogs
		WHERE created_at < ? ORDER BY 1`, []any{cutoff}, func(rows *sql.Rows) error {
		var m string
		if err := rows.Scan(&m); err != nil {
			return err
		}
		months = append(months, "usagelogs_"+strings.ReplaceAll(m, "-", "_"))
		return nil
	})
	if err != nil {
		return nil, mapErr(err, what)
	}
	for {
		res, err := s.db.ExecContext(ctx, `DELETE FROM UsageLogs WHERE rowid IN (
			SELECT rowid FROM UsageLogs WHERE created_at < ? LIMIT ?)`, cutoff, retentionChunk)
		if err != nil {
			return nil, mapErr(err, what)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, mapErr(err, what)
		} else if n == 0 {
			break
		}
	}
	if months == nil {
		months = []string{}
	}
	return months, nil
}
