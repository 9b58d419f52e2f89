package postgres

import (
	"context"
	"fmt"
	"time"
)

// monthStart is the first instant of t's month, in UTC.
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// PartitionName is the name of the UsageLogs partition holding rows created in
// t's month (UTC), e.g. usagelogs_2026_11.
func PartitionName(t time.Time) string {
	m := monthStart(t)
	return fmt.Sprintf("usagelogs_%04d_%02d", m.Year(), int(m.Month()))
}

// EnsureUsagePartitions creates the monthly UsageLogs partitions of the given
// times' months if they do not exist. It is idempotent and safe when several
// replicas race: a creation that fails because another session created the
// same partition first counts as success.
func (s *Store) EnsureUsagePartitions(ctx context.Context, months ...time.Time) error {
	for _, t := range months {
		if err := s.ensurePartition(ctx, monthStart(t)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) ensurePartition(ctx context.Context, from time.Time) error {
	name := PartitionName(from)
	s.mu.Lock()
	known := s.partitions[name]
	s.mu.Unlock()
	if known {
		return nil
	}
	exists, err := s.partitionExists(ctx, name)
	if err != nil {
		return err
	}
	if !exists {
		// CREATE … PARTITION OF locks the parent table, so it only runs when
		// the partition is missing. The name and bounds are generated, never
		// user input.
		const layout = "2006-01-02 15:04:05+00"
		_, err := s.pool.Exec(ctx, fmt.Sprintf(
			`CREATE TABLE IF NOT EXISTS %s PARTITION OF UsageLogs FOR VALUES FROM ('%s') TO ('%s')`,
			name, from.Format(layout), from.AddDate(0, 1, 0).Format(layout)))
		if err != nil {
			// Another session may have created it between our check and our
			// CREATE (duplicate type/relation, or overlapping bounds): fine if
			// it is there now.
			if ok, err2 := s.partitionExists(ctx, name); err2 != nil || !ok {
				return fmt.Errorf("postgres: create partition %s: %w", name, err)
			}
		}
	}
	s.mu.Lock()
	s.partitions[name] = true
	s.mu.Unlock()
	return nil
}

// partitionExists reports whether name is a partition of UsageLogs.
func (s *Store) partitionExists(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `
		SELECT EXISTS (
			SELECT 1 FROM pg_inherits
			WHERE inhrelid = to_regclass($1) AND inhparent = to_regclass('usagelogs'))`, name).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("postgres: check partition %s: %w", name, err)
	}
	return ok, nil
}
