package sqlite_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/sqlite"
	"github.com/antigravity/gateway/internal/store/storetest"
)

func open(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, open)
	storetest.RunBudgets(t, open)
}

func TestContractInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMigrateIdempotentAndPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	for i := range 2 {
		if err := sqlite.Migrate(t.Context(), path); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Dialect() != "sqlite" {
		t.Fatalf("Dialect = %q", s.Dialect())
	}
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1"} {
		var got string
		if err := s.DB().QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q (err %v), want %q", pragma, got, err, want)
		}
	}
	var timeout int
	if err := s.DB().QueryRowContext(t.Context(), "PRAGMA busy_timeout").Scan(&timeout); err != nil || timeout < 1000 {
		t.Errorf("busy_timeout = %d (err %v)", timeout, err)
	}
	for _, table := range []string{"Users", "ApiKeys", "Models", "ModelEndpoints", "Apps", "AuditLogs", "UsageLogs"} {
		var n int
		if err := s.DB().QueryRowContext(t.Context(),
			"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s: %d (err %v)", table, n, err)
		}
	}
}

// TestConcurrentWriters checks that writers on several connections wait for
// each other instead of failing with SQLITE_BUSY.
func TestConcurrentWriters(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	if _, err := s.CreateUser(ctx, store.User{OID: "w", Role: store.RoleUser, Active: true}); err != nil {
		t.Fatal(err)
	}
	const writers, batches = 6, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches*2)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				var rows []store.UsageRecord
				for i := range 10 {
					rows = append(rows, store.UsageRecord{RequestID: fmt.Sprintf("w%d-b%d-%d", w, b, i),
						CreatedAt: time.Now(), UserOID: "w", Model: "m", Status: 200, PromptTokens: 1, Attempts: 1})
				}
				if err := s.InsertUsage(ctx, rows); err != nil {
					errs <- err
				}
				if _, err := s.InsertAudit(ctx, store.AuditEntry{Actor: "w", Action: "x"}); err != nil {
					errs <- err
				}
				if err := s.TouchKeys(ctx, map[int64]time.Time{1: time.Now()}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	sum, err := s.SumUsage(ctx, store.UsageFilter{UserOID: "w"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requests != writers*batches*10 || sum.PromptTokens != writers*batches*10 {
		t.Fatalf("totals %+v, want %d rows", sum, writers*batches*10)
	}
}
