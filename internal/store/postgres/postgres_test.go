package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/pgtest"
	"github.com/antigravity/gateway/internal/store/postgres"
	"github.com/antigravity/gateway/internal/store/storetest"
)

func open(t *testing.T) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
	storetest.RunBudgets(t, func(t *testing.T) store.Store { return open(t) })
}

// partitionOf returns the partition holding the usage row with that request id.
func partitionOf(t *testing.T, s *postgres.Store, requestID string) string {
	t.Helper()
	var name string
	err := s.Pool().QueryRow(t.Context(),
		`SELECT tableoid::regclass::text FROM UsageLogs WHERE request_id = $1`, requestID).Scan(&name)
	if err != nil {
		t.Fatalf("partition of %s: %v", requestID, err)
	}
	return name
}

func isPartition(t *testing.T, s *postgres.Store, name string) bool {
	t.Helper()
	var ok bool
	err := s.Pool().QueryRow(t.Context(), `
		SELECT EXISTS (SELECT 1 FROM pg_inherits
			WHERE inhrelid = to_regclass($1) AND inhparent = 'usagelogs'::regclass)`, name).Scan(&ok)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestMonthlyPartitions(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	rows := []store.UsageRecord{
		{RequestID: "jan", CreatedAt: time.Date(2026, 1, 31, 23, 59, 59, 999999000, time.UTC), UserOID: "u", Model: "m", Status: 200, Attempts: 1},
		{RequestID: "feb", CreatedAt: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), UserOID: "u", Model: "m", Status: 200, Attempts: 1},
		// 2026-02-01T00:30+01:00 is still January in UTC.
		{RequestID: "jan-zoned", CreatedAt: time.Date(2026, 2, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), UserOID: "u", Model: "m", Status: 200, Attempts: 1},
	}
	if err := s.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"jan": "usagelogs_2026_01", "feb": "usagelogs_2026_02", "jan-zoned": "usagelogs_2026_01"} {
		if got := partitionOf(t, s, id); got != want {
			t.Errorf("row %s is in %s, want %s", id, got, want)
		}
	}
	// A single-row insert (no COPY) also creates its month's partition.
	if err := s.InsertUsage(ctx, []store.UsageRecord{{RequestID: "dec", CreatedAt: time.Date(2030, 12, 31, 12, 0, 0, 0, time.UTC), UserOID: "u", Model: "m", Status: 200, Attempts: 1}}); err != nil {
		t.Fatal(err)
	}
	if got := partitionOf(t, s, "dec"); got != "usagelogs_2030_12" {
		t.Errorf("row dec is in %s", got)
	}
	if got := postgres.PartitionName(time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)); got != "usagelogs_2026_11" {
		t.Errorf("PartitionName = %s", got)
	}
}

func TestOpenEnsuresCurrentAndNextMonth(t *testing.T) {
	s := open(t)
	now := time.Now().UTC()
	next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	for _, m := range []time.Time{now, next} {
		if name := postgres.PartitionName(m); !isPartition(t, s, name) {
			t.Errorf("partition %s missing after Open", name)
		}
	}
	after := time.Date(now.Year(), now.Month()+2, 1, 0, 0, 0, 0, time.UTC)
	if name := postgres.PartitionName(after); isPartition(t, s, name) {
		t.Errorf("partition %s exists, want only current and next month", name)
	}
	if err := s.EnsureUsagePartitions(t.Context(), after, after.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if name := postgres.PartitionName(after); !isPartition(t, s, name) {
		t.Errorf("partition %s missing after EnsureUsagePartitions", name)
	}
}

func TestEnsurePartitionsConcurrently(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := t.Context()
	// Separate stores model separate replicas (no shared cache).
	var stores []*postgres.Store
	for range 4 {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	for round, month := range []time.Time{
		time.Date(2031, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2031, 4, 15, 0, 0, 0, 0, time.UTC),
		time.Date(2031, 5, 31, 23, 0, 0, 0, time.UTC),
	} {
		var wg sync.WaitGroup
		errs := make([]error, len(stores))
		start := make(chan struct{})
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = s.EnsureUsagePartitions(ctx, month)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d replica %d: %v", round, i, err)
			}
		}
		if !isPartition(t, stores[0], postgres.PartitionName(month)) {
			t.Errorf("partition %s missing", postgres.PartitionName(month))
		}
	}
}

func TestMigrateIdempotent(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := t.Context()
	for i := range 2 {
		if err := postgres.Migrate(ctx, url); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	// Concurrent migrations (replicas starting together) serialise.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = postgres.Migrate(ctx, url) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate %d: %v", i, err)
		}
	}
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The spec's tables and indexes are there under their names.
	for _, rel := range []string{"users", "apikeys", "models", "modelendpoints", "apps", "auditlogs",
		"usagelogs", "idx_apps_owner_id", "idx_usagelogs_app_id"} {
		var ok bool
		if err := s.Pool().QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, rel).Scan(&ok); err != nil || !ok {
			t.Errorf("relation %s missing (err %v)", rel, err)
		}
	}
	var kind string
	if err := s.Pool().QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE oid = 'usagelogs'::regclass`).Scan(&kind); err != nil || kind != "p" {
		t.Errorf("UsageLogs relkind = %q (err %v), want partitioned", kind, err)
	}
}

// TestConcurrentMigrateOnFreshDatabase starts several replicas at once on an
// empty database.
func TestConcurrentOpenOnFreshDatabase(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(ctx, url)
			if err == nil {
				err = s.InsertUsage(ctx, []store.UsageRecord{{RequestID: fmt.Sprint("r", i), UserOID: "u", Model: "m", Status: 200, Attempts: 1}})
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}
