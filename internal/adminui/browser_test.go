package adminui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antigravity/gateway/internal/config"
	"github.com/antigravity/gateway/internal/gateway"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

const testAdminKey = "sk-gate-ui-test-admin-key-0123456789"

// billMonth is the month the tests seed usage into.
const billMonth = "2026-01"

// chromiumPath returns Debian's chromium, skipping the test without it
// (failing it when GATEWAY_TEST_REQUIRE_INTEGRATION is set).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("GATEWAY_TEST_REQUIRE_INTEGRATION") != "" {
		t.Fatal("chromium is not installed (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed; skipping the browser tests")
	return ""
}

// env is a full gateway instance over httptest.
type env struct {
	t   *testing.T
	g   *gateway.Gateway
	url string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cfg, err := config.FromEnv(map[string]string{
		"GATEWAY_DATA_DIR":   t.TempDir(),
		"GATEWAY_ADMIN_KEY":  testAdminKey,
		"GATEWAY_DEMO_MODEL": "false",
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(context.Background(), cfg, gateway.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Close(ctx)
	})
	return &env{t: t, g: g, url: srv.URL}
}

// call makes a JSON API call with key and decodes the answer into out.
func (e *env) call(key string, want int, method, path string, body, out any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// userKey creates a user and returns a key of theirs.
func (e *env) userKey(oid string) string {
	e.t.Helper()
	e.call(testAdminKey, 201, "POST", "/admin/api/users", map[string]any{"oid": oid, "email": oid + "@example.com", "display_name": oid}, nil)
	var k struct{ Key string }
	e.call(testAdminKey, 201, "POST", "/admin/api/users/"+oid+"/keys", map[string]any{"name": "main"}, &k)
	return k.Key
}

// seed stores usage rows for billMonth through the store: costs are whole
// cents so the dashboard's rounding is exact.
func (e *env) seed() {
	e.t.Helper()
	ctx := context.Background()
	day := func(d int) time.Time { return time.Date(2026, 1, d, 12, 0, 0, 0, time.UTC) }
	if err := e.g.Store.EnsureUsagePartitions(ctx, day(1)); err != nil {
		e.t.Fatal(err)
	}
	app := "ui-seed-app"
	cents := func(c int64) money.Nanos { return money.Nanos(c * 10_000_000) }
	var rows []store.UsageRecord
	add := func(user, model string, appID *string, d int, c int64) {
		rows = append(rows, store.UsageRecord{
			RequestID: fmt.Sprintf("req-%d", len(rows)), CreatedAt: day(d), UserOID: user, AppID: appID,
			Model: model, Status: 200, PromptTokens: 1000, CompletionTokens: 200, Cost: cents(c), Attempts: 1,
		})
	}
	add("alice", "gpt-ui", nil, 3, 1250)
	add("alice", "gpt-ui", &app, 3, 400)
	add("alice", "claude-ui", nil, 15, 775)
	add("bob", "gpt-ui", &app, 7, 325)
	add("bob", "gpt-ui", nil, 20, 1)
	add("carol", "claude-ui", nil, 28, 9999)
	if err := e.g.Store.InsertUsage(ctx, rows); err != nil {
		e.t.Fatal(err)
	}
}

// screenshotDir is artifacts/screenshots at the repository root.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, "artifacts", "screenshots")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// browser starts headless chromium and returns a tab context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	// The first call starts the browser: no timeout on it (it would stop
	// the browser); every later step has its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// fail reports a failed step with where the page was and what it said.
func fail(t *testing.T, ctx context.Context, step string, err error) {
	t.Helper()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("status")||{}).textContent||""`))
	t.Fatalf("%s: %v (at %s, status %q)", step, err, loc, status)
}

// run runs browser steps, failing the test with step's name.
func run(t *testing.T, ctx context.Context, step string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		fail(t, ctx, step, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr))
	if err != nil {
		fail(t, ctx, "evaluate "+expr, err)
	}
	return v
}

// text returns the text of the first element matching a CSS selector.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).textContent.trim()`, sel))
}

// attr returns an attribute of the first element matching a CSS selector.
func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).getAttribute(%q) || ""`, sel, name))
}

// count counts the elements matching a CSS selector.
func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	return eval[int](t, ctx, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// shot saves a full-page PNG screenshot.
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	buf, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		fail(t, ctx, "screenshot "+name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func signIn(t *testing.T, ctx context.Context, base, key, landing string) {
	t.Helper()
	run(t, ctx, "sign in",
		chromedp.Navigate(base+"/admin/login"),
		chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), key),
		chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS(".signout")),
	)
	if loc := location(t, ctx); loc != base+landing {
		t.Fatalf("signed in at %s, want %s", loc, base+landing)
	}
}

// sameAmount reports whether the dashboard's data-value matches the API's
// decimal USD string.
func sameAmount(t *testing.T, what, shown, api string) {
	t.Helper()
	a, err1 := strconv.ParseFloat(shown, 64)
	b, err2 := strconv.ParseFloat(api, 64)
	if err1 != nil || err2 != nil || a != b {
		t.Errorf("%s: dashboard shows %q, API says %q", what, shown, api)
	}
}

func TestBrowserAdminUI(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t)
	dir := screenshotDir(t)
	aliceKey := e.userKey("alice")
	e.userKey("bob")
	e.userKey("carol")
	e.call(testAdminKey, 201, "POST", "/admin/api/models", map[string]any{
		"name": "gpt-ui", "context_window": 128000, "max_output_tokens": 16000,
		"input_price_per_1m": 2.5, "output_price_per_1m": 10, "cached_input_price_per_1m": 1.25}, nil)
	e.call(testAdminKey, 201, "POST", "/admin/api/apps?owner_id=alice", map[string]any{"app_id": "ui-seed-app", "name": "Seed app"}, nil)
	e.seed()

	signIn(t, ctx, e.url, testAdminKey, "/admin/billing")

	t.Run("billing dashboard matches the API", func(t *testing.T) {
		var api struct {
			Month         string      `json:"month"`
			TotalCost     json.Number `json:"total_cost"`
			TotalRequests int64       `json:"total_requests"`
			Users         []struct {
				UserOID   string      `json:"user_oid"`
				Email     string      `json:"email"`
				Requests  int64       `json:"requests"`
				TotalCost json.Number `json:"total_cost"`
			} `json:"users"`
		}
		e.call(testAdminKey, 200, "GET", "/admin/api/billing?month="+billMonth, nil, &api)
		if api.TotalRequests != 6 || len(api.Users) != 3 {
			t.Fatalf("seeded month reads back as %+v", api)
		}
		run(t, ctx, "open the dashboard",
			chromedp.Navigate(e.url+"/admin/billing?month="+billMonth),
			chromedp.WaitVisible(chromedp.CSS(`#total-cost[data-value]`)),
			chromedp.WaitVisible(chromedp.CSS(`#users-table tbody tr[data-oid]`)),
		)
		if v := eval[string](t, ctx, `document.getElementById("month").value`); v != billMonth {
			t.Errorf("month picker shows %q, want %s", v, billMonth)
		}
		sameAmount(t, "total cost", attr(t, ctx, "#total-cost", "data-value"), api.TotalCost.String())
		if got := text(t, ctx, "#total-cost"); got != "$127.50" { // 12.50+4.00+7.75+3.25+0.01+99.99
			t.Errorf("total cost text = %q, want $127.50", got)
		}
		if got := attr(t, ctx, "#total-requests", "data-value"); got != strconv.FormatInt(api.TotalRequests, 10) {
			t.Errorf("total requests = %q, API %d", got, api.TotalRequests)
		}
		for _, u := range api.Users {
			sel := `#users-table tbody tr[data-oid="` + u.UserOID + `"]`
			sameAmount(t, u.UserOID+" cost", attr(t, ctx, sel+" td[data-value]", "data-value"), u.TotalCost.String())
			f, _ := strconv.ParseFloat(u.TotalCost.String(), 64)
			if got, want := text(t, ctx, sel+" td[data-value]"), fmt.Sprintf("$%.2f", f); got != want {
				t.Errorf("%s cost text = %q, want %q", u.UserOID, got, want)
			}
			email, reqs := text(t, ctx, sel+" th"), text(t, ctx, sel+" td")
			if email != u.Email || reqs != strconv.FormatInt(u.Requests, 10) {
				t.Errorf("%s row = %q, %q requests; API %q, %d", u.UserOID, email, reqs, u.Email, u.Requests)
			}
		}
		bars, days, appRows := count(t, ctx, "#chart-users rect.bar"), count(t, ctx, "#chart-daily rect.bar"), count(t, ctx, "#apps-table tbody tr")
		if bars != 3 || days != 31 || appRows != 2 {
			t.Errorf("charts: %d user bars (want 3), %d day bars (want 31), %d app rows (want 2)", bars, days, appRows)
		}
		if first := text(t, ctx, "#users-table tbody tr th"); first != "carol@example.com" {
			t.Errorf("the most expensive user is not first: %q", first)
		}
		// Sorting by email puts alice first; searching narrows the table.
		run(t, ctx, "sort", chromedp.Click(chromedp.CSS(`#users-table th[data-key="email"] button`)))
		if first := text(t, ctx, "#users-table tbody tr th"); first != "alice@example.com" {
			t.Errorf("after sorting by email the first row is %q", first)
		}
		run(t, ctx, "search", chromedp.SendKeys(chromedp.ID("user-search"), "bob"))
		if n := count(t, ctx, "#users-table tbody tr[data-oid]"); n != 1 {
			t.Errorf("search 'bob' leaves %d rows, want 1", n)
		}
		eval[bool](t, ctx, `(() => { const s = document.getElementById("user-search"); s.value = ""; s.dispatchEvent(new Event("input")); return true; })()`)
		shot(t, ctx, dir, "billing-1280")
		run(t, ctx, "phone width",
			chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS(`#users-table tbody tr[data-oid]`)),
		)
		if w := eval[int](t, ctx, `document.documentElement.scrollWidth`); w > 400 {
			t.Errorf("at 390px the page is %dpx wide: it scrolls sideways", w)
		}
		shot(t, ctx, dir, "billing-390")
		run(t, ctx, "back to desktop", chromedp.EmulateViewport(1280, 900))
		run(t, ctx, "empty month",
			chromedp.Navigate(e.url+"/admin/billing?month=2025-06"),
			chromedp.WaitVisible(chromedp.ID("empty")),
		)
		if got := text(t, ctx, "#empty"); got != "No usage in 2025-06." {
			t.Errorf("empty state = %q", got)
		}
	})

	t.Run("register and toggle an app", func(t *testing.T) {
		run(t, ctx, "register",
			chromedp.Navigate(e.url+"/admin/apps"),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-app="ui-seed-app"]`)),
			chromedp.WaitReady(chromedp.CSS(`#app-owner option[value="bob"]`)),
			chromedp.SendKeys(chromedp.ID("app-id"), "ui-new-app"),
			chromedp.SendKeys(chromedp.ID("app-name"), "New app"),
			chromedp.SetValue(chromedp.ID("app-owner"), "bob"),
			chromedp.Click(chromedp.CSS(`#app-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-app="ui-new-app"] .badge.on`)),
		)
		appState := func() (owner string, active bool) {
			var list struct {
				Data []struct {
					AppID    string `json:"app_id"`
					OwnerID  string `json:"owner_id"`
					IsActive bool   `json:"is_active"`
				} `json:"data"`
			}
			e.call(testAdminKey, 200, "GET", "/admin/api/apps?limit=1000", nil, &list)
			for _, a := range list.Data {
				if a.AppID == "ui-new-app" {
					return a.OwnerID, a.IsActive
				}
			}
			t.Fatal("the registered app is not in the API")
			return "", false
		}
		if owner, active := appState(); owner != "bob" || !active {
			t.Fatalf("registered app: owner %q active %v, want bob, active", owner, active)
		}
		run(t, ctx, "disable",
			chromedp.Click(chromedp.CSS(`tr[data-app="ui-new-app"] button[data-action="toggle"]`)),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-app="ui-new-app"] .badge.off`)),
		)
		if _, active := appState(); active {
			t.Fatal("the app is still active in the API after Disable")
		}
		shot(t, ctx, dir, "apps")
		run(t, ctx, "enable again",
			chromedp.Click(chromedp.CSS(`tr[data-app="ui-new-app"] button[data-action="toggle"]`)),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-app="ui-new-app"] .badge.on`)),
		)
		if _, active := appState(); !active {
			t.Fatal("the app is not active in the API after Enable")
		}
	})

	t.Run("create and revoke a key", func(t *testing.T) {
		run(t, ctx, "create",
			chromedp.Navigate(e.url+"/admin/users"),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-oid="bob"] button[data-action="keys"]`)),
			chromedp.Click(chromedp.CSS(`tr[data-oid="bob"] button[data-action="keys"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#keys-table tbody tr[data-key]`)),
			chromedp.SendKeys(chromedp.ID("key-name"), "from-the-ui"),
			chromedp.Click(chromedp.CSS(`#key-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("new-key")),
		)
		secret := text(t, ctx, "#new-key-value")
		if len(secret) < 20 {
			t.Fatalf("secret shown = %q", secret)
		}
		var me struct {
			Keys []struct {
				ID   int64  `json:"id"`
				Name string `json:"name"`
			} `json:"keys"`
		}
		e.call(secret, 200, "GET", "/v1/me/usage", nil, &me)
		var id int64
		for _, k := range me.Keys {
			if k.Name == "from-the-ui" {
				id = k.ID
			}
		}
		sel := fmt.Sprintf(`#keys-table tr[data-key="%d"]`, id)
		run(t, ctx, "new key listed", chromedp.WaitVisible(chromedp.CSS(sel+" .badge.on")))
		shot(t, ctx, dir, "users-keys")
		eval[bool](t, ctx, `(window.confirm = () => true, true)`)
		run(t, ctx, "revoke",
			chromedp.Click(chromedp.CSS(sel+` button[data-action="revoke"]`)),
			chromedp.WaitVisible(chromedp.CSS(sel+` .badge.off`)),
		)
		e.call(secret, 401, "GET", "/v1/me/usage", nil, nil)
		run(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#users-table tbody tr[data-oid]`)))
		if html := eval[string](t, ctx, `document.documentElement.outerHTML`); bytes.Contains([]byte(html), []byte(secret)) {
			t.Fatal("the key's secret is still in the page after a reload")
		}
	})

	t.Run("other screens", func(t *testing.T) {
		run(t, ctx, "models",
			chromedp.Navigate(e.url+"/admin/models"),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-model="gpt-ui"]`)),
		)
		run(t, ctx, "edit a price and disable the model",
			chromedp.Click(chromedp.CSS(`tr[data-model="gpt-ui"] button[aria-label="Edit gpt-ui"]`)),
			chromedp.WaitVisible(chromedp.ID("edit-input_price_per_1m")),
			chromedp.SetValue(chromedp.ID("edit-input_price_per_1m"), "3.125"),
			chromedp.Click(chromedp.CSS(`.edit-row button[type="submit"]`)),
			chromedp.WaitNotPresent(chromedp.CSS(`.edit-row`)),
			chromedp.Click(chromedp.CSS(`tr[data-model="gpt-ui"] button[aria-label="Disable gpt-ui"]`)),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-model="gpt-ui"] .badge.off`)),
		)
		var m struct {
			InputPrice json.Number `json:"input_price_per_1m"`
			Active     bool        `json:"is_active"`
		}
		e.call(testAdminKey, 200, "GET", "/admin/api/models/gpt-ui", nil, &m)
		if m.InputPrice.String() != "3.125" || m.Active {
			t.Errorf("after editing in the UI the model is %+v, want input price 3.125, disabled", m)
		}
		shot(t, ctx, dir, "models")
		run(t, ctx, "audit",
			chromedp.Navigate(e.url+"/admin/audit"),
			chromedp.WaitVisible(chromedp.CSS(`#audit-table tbody tr th`)),
		)
		actions := text(t, ctx, "#audit-table tbody")
		if !bytes.Contains([]byte(actions), []byte("app.toggle")) || !bytes.Contains([]byte(actions), []byte("key.revoke")) {
			t.Errorf("audit log lacks the UI's changes: %s", actions)
		}
		shot(t, ctx, dir, "audit")
		run(t, ctx, "budgets",
			chromedp.Navigate(e.url+"/admin/budgets"),
			chromedp.WaitVisible(chromedp.CSS(`#kill-table tbody tr`)),
		)
		shot(t, ctx, dir, "budgets")
	})

	t.Run("sign out and self-service", func(t *testing.T) {
		run(t, ctx, "sign out",
			chromedp.Click(chromedp.CSS(`.signout button`)),
			chromedp.WaitVisible(chromedp.ID("key")),
			chromedp.Navigate(e.url+"/admin/billing"),
			chromedp.WaitVisible(chromedp.ID("key")),
		)
		signIn(t, ctx, e.url, aliceKey, "/me")
		var api struct {
			TotalCost     json.Number `json:"total_cost"`
			TotalRequests int64       `json:"total_requests"`
		}
		e.call(aliceKey, 200, "GET", "/v1/me/usage?month="+billMonth, nil, &api)
		run(t, ctx, "me",
			chromedp.Navigate(e.url+"/me?month="+billMonth),
			chromedp.WaitVisible(chromedp.CSS(`#total-cost[data-value]`)),
			chromedp.WaitVisible(chromedp.CSS(`#keys-table tbody tr`)),
		)
		sameAmount(t, "my cost", attr(t, ctx, "#total-cost", "data-value"), api.TotalCost.String())
		reqs, models := attr(t, ctx, "#total-requests", "data-value"), count(t, ctx, "#models-table tbody tr")
		if reqs != strconv.FormatInt(api.TotalRequests, 10) || api.TotalRequests != 3 || models != 2 {
			t.Errorf("me: %s requests (API %d, want 3), %d model rows (want 2)", reqs, api.TotalRequests, models)
		}
		shot(t, ctx, dir, "me")
		run(t, ctx, "a user is sent from admin pages to /me",
			chromedp.Navigate(e.url+"/admin/apps"),
			chromedp.WaitVisible(chromedp.ID("total-cost")),
		)
		if loc := location(t, ctx); loc != e.url+"/me" {
			t.Errorf("a user opening /admin/apps lands on %s, want /me", loc)
		}
	})
}
