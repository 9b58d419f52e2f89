package postgres_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/pgtest"
	"github.com/antigravity/gateway/internal/store/postgres"
	"github.com/antigravity/gateway/internal/store/storetest"
)

func openIn(t *testing.T, url string, loc *time.Location) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url, postgres.WithBillingLocation(loc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBilling(t *testing.T) {
	storetest.RunBilling(t, func(t *testing.T, loc *time.Location) store.Store {
		return openIn(t, pgtest.NewDatabase(t), loc)
	})
}

func TestBillingLocationMustBeNamed(t *testing.T) {
	url := pgtest.NewDatabase(t)
	for _, loc := range []*time.Location{time.Local, time.FixedZone("XYZ", 3600)} {
		s, err := postgres.Open(t.Context(), url, postgres.WithBillingLocation(loc))
		if err == nil {
			s.Close()
			t.Fatalf("Open with zone %q: no error", loc)
		}
	}
}

// seedV1 brings the database at url to schema version 1 (before the rollups)
// and stores raw usage rows on both sides of midnight UTC = 09:00 in Tokyo.
func seedV1(t *testing.T, url string) {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, os.DirFS("migrations"),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE usagelogs_2026_01 PARTITION OF UsageLogs FOR VALUES FROM ('2026-01-01 00:00+00') TO ('2026-02-01 00:00+00')`,
		`CREATE TABLE usagelogs_2026_02 PARTITION OF UsageLogs FOR VALUES FROM ('2026-02-01 00:00+00') TO ('2026-03-01 00:00+00')`,
		`INSERT INTO UsageLogs (request_id, created_at, user_oid, app_id, model, prompt_tokens, cost_nanos) VALUES
			('a', '2026-01-31 14:00+00', 'old', NULL, 'm', 5, 1),
			('b', '2026-01-31 16:00+00', 'old', 'bff', 'm', 5, 10),
			('c', '2026-02-01 00:30+00', 'old', 'bff', 'm', 5, 100)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
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
	url := pgtest.NewDatabase(t)
	seedV1(t, url)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := postgres.Open(t.Context(), url, postgres.WithBillingLocation(tc.loc))
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
