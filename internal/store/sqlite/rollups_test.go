package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/sqlite"
	"github.com/antigravity/gateway/internal/store/storetest"
)

func openIn(t *testing.T, path string, loc *time.Location) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, sqlite.WithBillingLocation(loc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBilling(t *testing.T) {
	storetest.RunBilling(t, func(t *testing.T, loc *time.Location) store.Store {
		return openIn(t, filepath.Join(t.TempDir(), "gateway.db"), loc)
	})
}

func TestBillingInMemory(t *testing.T) {
	storetest.RunBilling(t, func(t *testing.T, loc *time.Location) store.Store {
		return openIn(t, ":memory:", loc)
	})
}

// seedV1 creates a database at schema version 1 (before the rollups) holding
// raw usage rows on both sides of midnight UTC = 09:00 in Tokyo.
func seedV1(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectSQLite3, db, os.DirFS("migrations"),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		id, at, app string
		cost        int64
	}{
		{"a", "2026-01-31T14:00:00.000000Z", "", 1},     // Jan 31 UTC, Jan 31 23:00 JST
		{"b", "2026-01-31T16:00:00.000000Z", "bff", 10}, // Jan 31 UTC, Feb 1 01:00 JST
		{"c", "2026-02-01T00:30:00.000000Z", "bff", 100},
	} {
		var app any
		if r.app != "" {
			app = r.app
		}
		if _, err := db.Exec(`INSERT INTO UsageLogs (request_id, created_at, user_oid, app_id, model,
			prompt_tokens, cost_nanos) VALUES (?, ?, 'old', ?, 'm', 5, ?)`, r.id, r.at, app, r.cost); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRollupBackfillAndZoneChange checks the migration's backfill (UTC days)
// and the rebuild Open runs when the billing zone changes.
func TestRollupBackfillAndZoneChange(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	jan, feb := store.Month{Year: 2026, Month: 1}, store.Month{Year: 2026, Month: 2}
	cases := []struct {
		name     string
		loc      *time.Location
		jan, feb int64 // cost
	}{
		{"utc backfill", time.UTC, 11, 100},
		{"tokyo rebuild", tokyo, 1, 110},
		{"back to utc", time.UTC, 11, 100},
	}
	path := filepath.Join(t.TempDir(), "gateway.db")
	seedV1(t, path)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlite.Open(t.Context(), path, sqlite.WithBillingLocation(tc.loc))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, c := range []struct {
				m    store.Month
				want int64
			}{{jan, tc.jan}, {feb, tc.feb}} {
				tot, err := s.BillingTotals(t.Context(), c.m)
				if err != nil {
					t.Fatal(err)
				}
				users, _, err := s.BillingByUser(t.Context(), store.BillingUserFilter{Month: c.m})
				if err != nil {
					t.Fatal(err)
				}
				ub, err := s.UserBilling(t.Context(), "old", c.m)
				if err != nil {
					t.Fatal(err)
				}
				if int64(tot.Cost) != c.want || len(users) != 1 || int64(users[0].Cost) != c.want ||
					int64(ub.Totals.Cost) != c.want || tot.PromptTokens != 5*tot.Requests {
					t.Fatalf("%s: totals %+v, users %+v, detail %+v; want cost %d", c.m, tot, users, ub.Totals, c.want)
				}
			}
		})
	}
}
