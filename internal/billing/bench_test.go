package billing

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/antigravity/gateway/internal/adminui"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/secrets"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/pgtest"
	"github.com/antigravity/gateway/internal/store/postgres"
)

// TestBillingAtScale is the billing benchmark on PostgreSQL: one month of
// GATEWAY_BENCH_ROWS usage rows (default 10,000,000) over GATEWAY_BENCH_USERS
// users (default 50,000), then the latency of the billing endpoints through
// the HTTP handler. It only runs with GATEWAY_BENCH_BILLING=1 and
// TEST_DATABASE_URL, and needs a long timeout:
//
//	GATEWAY_BENCH_BILLING=1 TEST_DATABASE_URL=postgres://… \
//	  go test -run TestBillingAtScale -timeout 60m -v ./internal/billing/
//
// The raw rows are generated in SQL (generate_series) into a detached
// partition that is then attached, so its indexes are built once; the
// rollups are built by the store's own RebuildUsageRollups (the aggregate the
// store runs on a time-zone change). A sample of batches then goes through
// the real InsertUsage path, and the rollups are checked against the raw rows.
func TestBillingAtScale(t *testing.T) {
	if os.Getenv("GATEWAY_BENCH_BILLING") != "1" {
		t.Skip("set GATEWAY_BENCH_BILLING=1 to run the billing benchmark")
	}
	rows := envInt(t, "GATEWAY_BENCH_ROWS", 10_000_000)
	users := envInt(t, "GATEWAY_BENCH_USERS", 50_000)
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := store.Month{Year: 2026, Month: 10}

	phase := func(name string, fn func() error) {
		t.Helper()
		start := time.Now()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%-34s %8.1fs", name, time.Since(start).Seconds())
	}
	phase(fmt.Sprintf("seed %d users", users), func() error { return seedBenchUsers(ctx, st.Pool(), users) })
	phase(fmt.Sprintf("generate %d usage rows", rows), func() error { return generateUsage(ctx, st.Pool(), m, rows, users) })
	phase("rollups (RebuildUsageRollups)", func() error { return st.RebuildUsageRollups(ctx) })
	phase("10,000 rows via InsertUsage", func() error { return insertSample(ctx, st, m, users) })
	phase("vacuum analyze", func() error {
		_, err := st.Pool().Exec(ctx, `VACUUM ANALYZE UsageRollups, UsageUserMonths, UsageAppModelDays, Users`)
		return err
	})
	phase("check rollups = raw rows", func() error { return checkRollups(ctx, st.Pool(), m) })
	var n [3]int64
	if err := st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM UsageRollups), (SELECT count(*) FROM UsageUserMonths),
		(SELECT count(*) FROM UsageAppModelDays)`).Scan(&n[0], &n[1], &n[2]); err != nil {
		t.Fatal(err)
	}
	t.Logf("rollup rows: day×user×app×model %d, month×user %d, day×app×model %d", n[0], n[1], n[2])

	// The API, with an admin key, through the HTTP handler; the dashboard
	// page (package adminui) signed in with the same key, behind its session
	// middleware, as a browser reaches it.
	au, err := auth.New(st, nil, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	New(Deps{Store: st, Auth: au, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Register(mux)
	box, err := secrets.NewBox("billing-benchmark-encryption-key")
	if err != nil {
		t.Fatal(err)
	}
	ui, err := adminui.New(adminui.Deps{Auth: au, Box: box, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ui.Register(mux)
	handler := ui.Wrap(mux)
	key, hash, prefix, err := auth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, store.User{OID: "bench-admin", Role: store.RoleAdmin, Active: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateKey(ctx, store.APIKey{UserOID: "bench-admin", Hash: hash, Prefix: prefix, Active: true}); err != nil {
		t.Fatal(err)
	}
	login := httptest.NewRequest(http.MethodPost, "/admin/login", strings.NewReader(url.Values{"key": {key}}.Encode()))
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, login)
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || len(cookies) == 0 {
		t.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
	}
	// call sends a GET with the key, or with the session cookie for a path
	// starting with "cookie:".
	call := func(path string) {
		req := httptest.NewRequest(http.MethodGet, strings.TrimPrefix(path, "cookie:"), nil)
		if strings.HasPrefix(path, "cookie:") {
			for _, c := range cookies {
				req.AddCookie(c)
			}
		} else {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	measure := func(name string, calls int, paths ...string) {
		t.Helper()
		for range 5 { // warm-up: key cache, plans, buffers
			for _, p := range paths {
				call(p)
			}
		}
		d := make([]time.Duration, calls)
		for i := range d {
			start := time.Now()
			for _, p := range paths {
				call(p)
			}
			d[i] = time.Since(start)
		}
		slices.Sort(d)
		q := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000 }
		t.Logf("%-46s n=%-4d p50 %7.2f ms  p95 %7.2f ms  p99 %7.2f ms  max %7.2f ms",
			name, calls, q(0.50), q(0.95), q(0.99), q(1))
	}
	ms := "month=" + m.String()
	measure("GET /admin/api/billing (spec, 100 users)", 200, "/admin/api/billing?"+ms)
	measure("GET /admin/api/billing limit=1000", 100, "/admin/api/billing?limit=1000&"+ms)
	measure("GET /admin/api/billing offset=49900", 100, "/admin/api/billing?offset=49900&"+ms)
	measure("GET /admin/api/billing q=user-4242", 100, "/admin/api/billing?q=user-4242&"+ms)
	measure("GET /admin/api/billing/apps", 200, "/admin/api/billing/apps?"+ms)
	measure("GET /admin/api/billing/models", 200, "/admin/api/billing/models?"+ms)
	measure("GET /admin/api/billing/daily", 200, "/admin/api/billing/daily?"+ms)
	measure("GET /admin/api/billing/users/{oid}", 200, "/admin/api/billing/users/user-00007?"+ms)
	measure("GET /admin/billing (page shell, cookie)", 200, "cookie:/admin/billing")
	// What the dashboard's script fetches (in parallel in a browser; summed
	// here, one after the other).
	measure("dashboard page + its 4 API calls (cookie)", 100, "cookie:/admin/billing",
		"cookie:/admin/api/billing?limit=1000&"+ms, "cookie:/admin/api/billing/apps?"+ms,
		"cookie:/admin/api/billing/models?"+ms, "cookie:/admin/api/billing/daily?"+ms)
	measure("CSV export, every user", 10, "/admin/api/billing?format=csv&"+ms)
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// benchOID is the oid of bench user i.
func benchOID(i int) string { return fmt.Sprintf("user-%05d", i) }

func seedBenchUsers(ctx context.Context, pool *pgxpool.Pool, n int) error {
	_, err := pool.Exec(ctx, `INSERT INTO Users (oid, email, display_name, role, is_active)
		SELECT 'user-' || lpad(i::text, 5, '0'), 'user' || i || '@example.com', 'User ' || i, 'user', TRUE
		FROM generate_series(0, $1 - 1) i`, n)
	return err
}

// generateUsage fills month m's partition with n rows in SQL: users skewed
// towards low ids (every user still gets rows), 30% without an app, 20 apps, 6
// models, integer nano-USD costs from token counts. The partition is loaded
// detached, in chunks of one million rows, and attached at the end so that
// its indexes are built in one pass.
func generateUsage(ctx context.Context, pool *pgxpool.Pool, m store.Month, n, users int) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	from, to := m.Start(time.UTC), m.Next().Start(time.UTC)
	name := postgres.PartitionName(from)
	for _, q := range []string{
		`SET synchronous_commit = off`,
		`SET maintenance_work_mem = '512MB'`,
		`DROP TABLE IF EXISTS ` + name,
		`CREATE TABLE ` + name + ` (LIKE UsageLogs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	const chunk = 1_000_000
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n) - 1
		_, err := conn.Exec(ctx, `INSERT INTO `+name+` (request_id, created_at, user_oid, app_id, model, status,
				prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_nanos, latency_ms, stream, attempts)
			SELECT 'bench-' || g, $1::timestamptz + r1 * ($2::timestamptz - $1::timestamptz),
				'user-' || lpad(LEAST(floor($3::int * r2 * r2)::int, $3::int - 1)::text, 5, '0'),
				CASE WHEN r3 < 0.3 THEN NULL ELSE 'app-' || lpad((floor(r3 * 1000)::int % 20)::text, 2, '0') END,
				(ARRAY['gpt-4o','gpt-4o-mini','o3','o4-mini','gpt-4.1','text-embedding-3-small'])[1 + floor(r4 * 6)::int],
				200, p, c, p / 4, c / 10, p * 2500 + c * 10000, 800, TRUE, 1
			FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
					floor(random() * 4000)::bigint AS p, floor(random() * 1000)::bigint AS c
				FROM generate_series($4::bigint, $5::bigint) g) s`,
			from, to, users, lo, hi)
		if err != nil {
			return fmt.Errorf("rows %d–%d: %w", lo, hi, err)
		}
	}
	const layout = "2006-01-02 15:04:05+00"
	for _, q := range []string{
		`ALTER TABLE UsageLogs ATTACH PARTITION ` + name + ` FOR VALUES FROM ('` +
			from.Format(layout) + `') TO ('` + to.Format(layout) + `')`,
		`ANALYZE ` + name,
		`RESET ALL`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// insertSample sends 20 batches of 500 rows (one retried) through
// InsertUsage, the path the gateway's usage recorder takes.
func insertSample(ctx context.Context, st *postgres.Store, m store.Month, users int) error {
	base := m.Start(time.UTC).Add(36 * time.Hour)
	apps := []*string{nil, ptr("app-03"), ptr("app-17")}
	models := []string{"gpt-4o", "o3"}
	for b := range 20 {
		batch := make([]store.UsageRecord, 500)
		for i := range batch {
			k := b*500 + i
			batch[i] = store.UsageRecord{RequestID: fmt.Sprintf("sample-%05d", k),
				CreatedAt: base.Add(time.Duration(k) * 4 * time.Minute), UserOID: benchOID(k * 37 % users),
				AppID: apps[k%3], Model: models[k%2], Status: 200, PromptTokens: int64(k % 3000),
				CompletionTokens: int64(k % 700), Cost: money.Nanos(k%3000*2500 + k%700*10000), Attempts: 1}
		}
		if err := st.InsertUsage(ctx, batch); err != nil {
			return err
		}
		if b == 7 {
			if err := st.InsertUsage(ctx, batch); err != nil { // a retry counts once
				return err
			}
		}
	}
	return nil
}

// checkRollups compares the three rollup tables with the raw rows of month m
// (UTC), in full: per user, per app × model × day, and the totals.
func checkRollups(ctx context.Context, pool *pgxpool.Pool, m store.Month) error {
	from, to := m.FirstDay(), m.Next().FirstDay()
	checks := []struct{ name, sql string }{
		{"month × user", `SELECT count(*) FROM (
				SELECT user_oid, count(*) AS n, sum(cost_nanos)::bigint AS c, sum(prompt_tokens)::bigint AS p
				FROM UsageLogs WHERE created_at >= $1::date AND created_at < $2::date GROUP BY user_oid) r
			FULL JOIN (SELECT user_oid, requests AS n, cost_nanos AS c, prompt_tokens AS p
				FROM UsageUserMonths WHERE month = $1::date) u USING (user_oid)
			WHERE r.n IS DISTINCT FROM u.n OR r.c IS DISTINCT FROM u.c OR r.p IS DISTINCT FROM u.p`},
		{"day × app × model", `SELECT count(*) FROM (
				SELECT created_at::date AS day, COALESCE(app_id, '') AS app_id, model, count(*) AS n,
					sum(cost_nanos)::bigint AS c, sum(completion_tokens)::bigint AS ct
				FROM UsageLogs WHERE created_at >= $1::date AND created_at < $2::date GROUP BY 1, 2, 3) r
			FULL JOIN (SELECT day, app_id, model, requests AS n, cost_nanos AS c, completion_tokens AS ct
				FROM UsageAppModelDays WHERE day >= $1::date AND day < $2::date) d USING (day, app_id, model)
			WHERE r.n IS DISTINCT FROM d.n OR r.c IS DISTINCT FROM d.c OR r.ct IS DISTINCT FROM d.ct`},
		{"day × user × app × model totals", `SELECT count(*) FROM
				(SELECT count(*) AS n, sum(cost_nanos)::bigint AS c, sum(cached_tokens)::bigint AS ca,
					sum(reasoning_tokens)::bigint AS re
				FROM UsageLogs WHERE created_at >= $1::date AND created_at < $2::date) r,
				(SELECT sum(requests)::bigint AS n, sum(cost_nanos)::bigint AS c, sum(cached_tokens)::bigint AS ca,
					sum(reasoning_tokens)::bigint AS re
				FROM UsageRollups WHERE day >= $1::date AND day < $2::date) u
			WHERE r.n IS DISTINCT FROM u.n OR r.c IS DISTINCT FROM u.c OR r.ca IS DISTINCT FROM u.ca
				OR r.re IS DISTINCT FROM u.re`},
	}
	for _, c := range checks {
		var bad int64
		if err := pool.QueryRow(ctx, c.sql, from, to).Scan(&bad); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if bad != 0 {
			return fmt.Errorf("%s: %d groups differ between the rollups and the raw rows", c.name, bad)
		}
	}
	return nil
}
