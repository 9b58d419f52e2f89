package postgres

import (
	"context"
	"sort"
	"time"
)

// partitionLayout parses a PartitionName.
const partitionLayout = "usagelogs_2006_01"

// DropUsagePartitionsBefore drops, with DROP TABLE, every monthly UsageLogs
// partition whose UTC month ends on or before the UTC month of before begins;
// rows are never deleted one by one and the rollups are kept. Partitions not
// named by ensurePartition are left alone. It returns the names dropped,
// oldest first. A row inserted later for a dropped month re-creates its
// partition.
func (s *Store) DropUsagePartitionsBefore(ctx context.Context, before time.Time) ([]string, error) {
	cutoff := monthStart(before)
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'usagelogs'::regclass`)
	if err != nil {
		return nil, mapErr(err, "postgres: list usage partitions")
	}
	names, err := collect(rows, func(r rowScanner) (string, error) {
		var n string
		err := r.Scan(&n)
		return n, err
	})
	if err != nil {
		return nil, mapErr(err, "postgres: list usage partitions")
	}
	sort.Strings(names)
	dropped := []string{}
	for _, name := range names {
		month, err := time.Parse(partitionLayout, name)
		if err != nil || PartitionName(month) != name || !month.Before(cutoff) {
			continue // not a monthly partition of ensurePartition's, or too recent
		}
		// The name is one PartitionName generates: safe to interpolate.
		if _, err := s.pool.Exec(ctx, `DROP TABLE IF EXISTS `+name); err != nil {
			return dropped, mapErr(err, "postgres: drop usage partition "+name)
		}
		s.mu.Lock()
		delete(s.partitions, name)
		s.mu.Unlock()
		dropped = append(dropped, name)
	}
	return dropped, nil
}
