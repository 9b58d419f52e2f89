package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/antigravity/gateway/internal/config"
	"github.com/antigravity/gateway/internal/fakeprovider"
	"github.com/antigravity/gateway/internal/redistest"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/pgtest"
)

const testAdminKey = "sk-gate-test-admin-key-0123456789"

// instance is one gateway served over httptest.
type instance struct {
	t   testing.TB
	g   *Gateway
	srv *httptest.Server
}

// newInstance starts a gateway. env overrides the test defaults (embedded mode
// in a temp dir, fast usage flushes, no demo model).
func newInstance(t testing.TB, env map[string]string) *instance {
	t.Helper()
	e := map[string]string{
		"GATEWAY_DATA_DIR":             t.TempDir(),
		"GATEWAY_ADMIN_KEY":            testAdminKey,
		"GATEWAY_USAGE_FLUSH_INTERVAL": "10ms",
		"GATEWAY_DEMO_MODEL":           "false",
		"GATEWAY_UPSTREAM_TIMEOUT":     "20s",
	}
	for k, v := range env {
		e[k] = v
	}
	cfg, err := config.FromEnv(e)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	g, err := New(context.Background(), cfg, Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &instance{t: t, g: g, srv: srv}
}

// admin calls the admin API and decodes the JSON answer into out (if non-nil).
func (in *instance) admin(method, path string, body any, out any) int {
	in.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, in.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			in.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// mustAdmin is admin that fails the test on an unexpected status.
func (in *instance) mustAdmin(want int, method, path string, body any, out any) {
	in.t.Helper()
	var raw json.RawMessage
	if got := in.admin(method, path, body, &raw); got != want {
		in.t.Fatalf("%s %s = %d, want %d: %s", method, path, got, want, raw)
	}
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
}

// addModel registers a model served by an OpenAI-compatible fake at baseURL.
func (in *instance) addModel(name, baseURL, upstreamKey string) {
	in.t.Helper()
	in.addModelAs(name, "upstream-"+name, baseURL, upstreamKey)
}

// addModelAs is addModel with the upstream model name given (the fake provider
// picks failure behaviours from it).
func (in *instance) addModelAs(name, upstreamModel, baseURL, upstreamKey string) {
	in.t.Helper()
	in.mustAdmin(201, "POST", "/admin/api/models", map[string]any{
		"name": name, "context_window": 16000, "max_output_tokens": 4000,
		"input_price_per_1m": 2.5, "output_price_per_1m": 10, "cached_input_price_per_1m": 1.25,
	}, nil)
	in.mustAdmin(201, "POST", "/admin/api/models/"+name+"/endpoints", map[string]any{
		"provider": "openai_compatible", "base_url": baseURL, "upstream_model": upstreamModel, "api_key": upstreamKey,
	}, nil)
	in.reload()
}

func (in *instance) reload() {
	in.t.Helper()
	if err := in.g.Registry.Reload(context.Background()); err != nil {
		in.t.Fatal(err)
	}
}

// addUserKey creates a user and returns a fresh key of theirs.
func (in *instance) addUserKey(oid string) string {
	in.t.Helper()
	in.mustAdmin(201, "POST", "/admin/api/users", map[string]any{"oid": oid, "email": oid + "@example.com", "display_name": oid}, nil)
	var k struct {
		Key string `json:"key"`
		ID  int64  `json:"id"`
	}
	in.mustAdmin(201, "POST", "/admin/api/users/"+oid+"/keys", map[string]any{"name": "test"}, &k)
	if k.Key == "" {
		in.t.Fatal("no key returned")
	}
	return k.Key
}

// client returns an openai-go client for key, with retries off.
func (in *instance) client(key string, opts ...option.RequestOption) *openai.Client {
	base := []option.RequestOption{option.WithBaseURL(in.srv.URL + "/v1"), option.WithAPIKey(key), option.WithMaxRetries(0)}
	c := openai.NewClient(append(base, opts...)...)
	return &c
}

// usageRow waits for the usage row of a request id.
func (in *instance) usageRow(requestID string) store.UsageRecord {
	in.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		rows, err := in.g.Store.ListUsage(context.Background(), store.UsageFilter{RequestID: requestID})
		if err != nil {
			in.t.Fatal(err)
		}
		if len(rows) == 1 {
			return rows[0]
		}
		if len(rows) > 1 {
			in.t.Fatalf("%d usage rows for %s", len(rows), requestID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	in.t.Fatalf("no usage row for %s", requestID)
	return store.UsageRecord{}
}

// forEachMode runs fn in embedded mode and in production mode (PostgreSQL and
// Redis from TEST_DATABASE_URL / TEST_REDIS_URL; skipped without them, failed
// in CI).
func forEachMode(t *testing.T, fn func(t *testing.T, env map[string]string)) {
	t.Run("embedded", func(t *testing.T) { fn(t, nil) })
	t.Run("production", func(t *testing.T) { fn(t, productionEnv(t)) })
}

// productionEnv returns the environment of a production-mode instance on a
// fresh database; call it once per shared deployment.
func productionEnv(t testing.TB) map[string]string {
	t.Helper()
	redisURL := redistest.URL(t)
	db := pgtest.NewDatabase(t)
	return map[string]string{
		"DATABASE_URL":           db,
		"REDIS_URL":              redisURL,
		"GATEWAY_ENCRYPTION_KEY": "test-encryption-key",
		// One Redis namespace per deployment: ids restart at 1 in every test
		// database, and Redis outlives them.
		"GATEWAY_REDIS_PREFIX": "gwt-" + strconv.FormatInt(time.Now().UnixNano(), 36),
	}
}

// newFake starts a fake upstream.
func newFake(t testing.TB, o fakeprovider.Options) (*fakeprovider.Server, string) {
	t.Helper()
	f := fakeprovider.New(o)
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	return f, s.URL + "/v1"
}

func newServerURL(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}
