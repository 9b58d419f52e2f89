package proxy

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/fakeprovider"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/upstream"
)

type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, key string) (*auth.Principal, error) {
	if key != "good" {
		return nil, apierror.InvalidAPIKey("Incorrect API key provided.")
	}
	return &auth.Principal{KeyID: 7, UserOID: "u"}, nil
}

type fakePools struct{ snap *upstream.Snapshot }

func (f fakePools) Pool(m string) *upstream.Pool { return f.snap.Models[m] }
func (f fakePools) Snapshot() *upstream.Snapshot { return f.snap }
func (s *sinkRecorder) Record(rec store.UsageRecord) {
	s.mu.Lock()
	s.rows = append(s.rows, rec)
	s.mu.Unlock()
}
func (s *sinkRecorder) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.rows) }

type sinkRecorder struct {
	mu   sync.Mutex
	rows []store.UsageRecord
}

func newTestHandler(t testing.TB) (*http.ServeMux, *sinkRecorder) {
	return newTestHandlerWith(t, nil)
}

// newTestHandlerWith is newTestHandler with its deps adjusted by set.
func newTestHandlerWith(t testing.TB, set func(*Deps)) (*http.ServeMux, *sinkRecorder) {
	fake := httptest.NewServer(fakeprovider.New(fakeprovider.Options{RecordLimit: -1}))
	t.Cleanup(fake.Close)
	base, _ := url.Parse(fake.URL + "/v1")
	model := store.Model{Name: "m", ContextWindow: 1000, MaxOutputTokens: 100, InputPrice: 1_000_000, OutputPrice: 2_000_000, Active: true}
	ep := upstream.NewEndpoint(store.Endpoint{ID: 1, Model: "m", Provider: store.ProviderOpenAICompatible, Priority: 1, Weight: 1, Active: true}, "", base)
	snap := &upstream.Snapshot{Models: map[string]*upstream.Pool{"m": {Model: model, Endpoints: []*upstream.Endpoint{ep}}}, Names: []string{"m"}}
	sink := &sinkRecorder{}
	d := Deps{Auth: fakeAuth{}, Pools: fakePools{snap}, Client: fake.Client(), Usage: sink, MaxBodyBytes: 1 << 16}
	if set != nil {
		set(&d)
	}
	h := New(d)
	mux := http.NewServeMux()
	h.Register(mux)
	return mux, sink
}

func post(mux http.Handler, key string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	return w
}

func TestHandlerStatuses(t *testing.T) {
	mux, sink := newTestHandler(t)
	cases := []struct {
		name, key, body string
		status          int
		rows            int
	}{
		{"ok", "good", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, 200, 1},
		{"no key", "", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, 401, 0},
		{"bad json", "good", `{"model":`, 400, 0},
		{"unknown model", "good", `{"model":"x","messages":[{"role":"user","content":"hi"}]}`, 404, 0},
		{"too large", "good", `{"model":"m","messages":[{"role":"user","content":"` + string(bytes.Repeat([]byte("a"), 1<<17)) + `"}]}`, 413, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := sink.count()
			w := post(mux, c.key, []byte(c.body))
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.status >= 400 && w.Header().Get("x-should-retry") != "false" {
				t.Fatalf("x-should-retry = %q", w.Header().Get("x-should-retry"))
			}
			if got := sink.count() - before; got != c.rows {
				t.Fatalf("%d usage rows, want %d", got, c.rows)
			}
		})
	}
}

// FuzzChatHandler: whatever the body, the handler answers a 2xx or 4xx — never a
// 500 or a panic — and writes exactly one usage row for each request it proxied.
func FuzzChatHandler(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":false},"max_tokens":2,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`,
		`{"model":"m","messages":[{}],"max_completion_tokens":0}`,
		`{"model":"m","messages":[1,2,3],"n":2}`,
		`{"model":"m"}`, `null`, `{"model":"m","messages":{}}`,
	} {
		f.Add([]byte(s))
	}
	mux, sink := newTestHandler(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := sink.count()
		w := post(mux, "good", body)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		rows := sink.count() - before
		if w.Code == 200 && rows != 1 {
			t.Fatalf("%d usage rows for a proxied request", rows)
		}
		if w.Code != 200 && w.Code != 400 && w.Code != 404 && w.Code != 413 {
			t.Fatalf("unexpected status %d: %s", w.Code, w.Body)
		}
	})
}

type panicTransport struct{}

func (panicTransport) RoundTrip(*http.Request) (*http.Response, error) { panic("transport exploded") }

// TestPanicReleasesEverything: a panic mid-call still releases the endpoint's
// in-flight count and writes the usage row.
func TestPanicReleasesEverything(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:1/v1")
	ep := upstream.NewEndpoint(store.Endpoint{ID: 1, Model: "m", Provider: store.ProviderOpenAICompatible, Priority: 1, Weight: 1, Active: true}, "", base)
	model := store.Model{Name: "m", ContextWindow: 1000, MaxOutputTokens: 100, Active: true}
	snap := &upstream.Snapshot{Models: map[string]*upstream.Pool{"m": {Model: model, Endpoints: []*upstream.Endpoint{ep}}}, Names: []string{"m"}}
	sink := &sinkRecorder{}
	h := New(Deps{Auth: fakeAuth{}, Pools: fakePools{snap}, Client: &http.Client{Transport: panicTransport{}}, Usage: sink})
	mux := http.NewServeMux()
	h.Register(mux)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic was swallowed")
			}
		}()
		post(mux, "good", []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	}()
	if ep.Inflight() != 0 {
		t.Fatalf("in-flight count leaked: %d", ep.Inflight())
	}
	if sink.count() != 1 || sink.rows[0].Status != 500 {
		t.Fatalf("usage rows %+v", sink.rows)
	}
}
