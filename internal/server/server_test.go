package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/reqscope"
)

// routes registers one route that fills the request scope as the proxy does.
type routes struct{}

func (routes) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		sc := reqscope.From(r.Context())
		sc.Route, sc.UserOID, sc.KeyID, sc.Model = "chat", "u-1", 7, "demo"
		w.WriteHeader(http.StatusTeapot)
	})
}

// TestAccessLog checks the one access-log line per request: JSON, at the
// server's clock, with the response's request id and the scope's fields, and
// nothing of the request's credentials or body; health checks are not logged.
func TestAccessLog(t *testing.T) {
	// Through the handler, and written directly to the writer under it
	// (Deps.AccessLog): the same line.
	for _, direct := range []bool{false, true} {
		t.Run(map[bool]string{false: "slog", true: "direct"}[direct], func(t *testing.T) {
			testAccessLog(t, direct)
		})
	}
}

func testAccessLog(t *testing.T, direct bool) {
	var out bytes.Buffer
	t0 := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	clock := t0
	d := Deps{API: routes{}, Log: slog.New(slog.NewJSONHandler(&out, nil)), Now: func() time.Time {
		clock = clock.Add(1500 * time.Microsecond)
		return clock
	}}
	if direct {
		d.AccessLog = &out
	}
	h := New(d)

	req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"messages":[{"role":"user","content":"secret prompt"}]}`))
	req.Header.Set("Authorization", "Bearer sk-gate-secretkey")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one access-log line, got %d:\n%s", len(lines), out.String())
	}
	if s := lines[0]; strings.Contains(s, "secret") || strings.Contains(s, "sk-gate") {
		t.Errorf("the access log holds the key or the prompt: %s", s)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatalf("not JSON: %v: %s", err, lines[0])
	}
	want := map[string]any{
		"time": t0.Add(3000 * time.Microsecond).Format(time.RFC3339Nano), "level": "INFO", "msg": "request",
		"request_id": rec.Header().Get("x-request-id"), "route": "chat", "status": float64(418),
		"duration_ms": 1.5, "user": "u-1", "key_id": float64(7), "model": "demo",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %#v, want %#v (line %s)", k, line[k], v, lines[0])
		}
	}
	if _, ok := line["source"]; ok {
		t.Errorf("the access log carries a source: %s", lines[0])
	}
}

// TestAccessLogLevel: above info, no access-log line is written, directly or not.
func TestAccessLogLevel(t *testing.T) {
	var out bytes.Buffer
	h := New(Deps{API: routes{}, Log: slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn})), AccessLog: &out})
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{}`)))
	if out.Len() != 0 {
		t.Errorf("logged at level warn: %s", out.String())
	}
}
