package proxy

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/antigravity/gateway/internal/fakeprovider"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/upstream"
)

// BenchmarkFailover reports the added latency of a request that fails over
// once (first endpoint answers 500 at once) against one that does not, through
// the handler with loopback upstreams. Compare the two ns/op figures.
func BenchmarkFailover(b *testing.B) {
	fake := httptest.NewServer(fakeprovider.New(fakeprovider.Options{RecordLimit: -1}))
	defer fake.Close()
	base, _ := url.Parse(fake.URL + "/v1")
	model := store.Model{Name: "m", ContextWindow: 100000, MaxOutputTokens: 1000, InputPrice: 1, OutputPrice: 1, Active: true, Routing: upstream.RoutingWeighted}
	mk := func(id int64, prio int, up string) *upstream.Endpoint {
		return upstream.NewEndpoint(store.Endpoint{ID: id, Model: "m", Provider: store.ProviderOpenAICompatible, UpstreamModel: up, Priority: prio, Weight: 1, Active: true}, "", base)
	}
	for _, bc := range []struct {
		name string
		eps  []*upstream.Endpoint
	}{
		{"direct", []*upstream.Endpoint{mk(1, 1, "good")}},
		{"fails_over_once", []*upstream.Endpoint{mk(1, 1, "error-500"), mk(2, 2, "good")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			snap := &upstream.Snapshot{Models: map[string]*upstream.Pool{"m": {Model: model, Endpoints: bc.eps}}, Names: []string{"m"}}
			// A breaker that never trips, so every request fails over.
			router := upstream.NewRouter(upstream.RouterOptions{Breaker: upstream.BreakerPolicy{Threshold: 1 << 30}})
			h := New(Deps{Auth: fakeAuth{}, Pools: fakePools{snap}, Client: fake.Client(), Usage: &sinkRecorder{}, Router: router})
			mux := http.NewServeMux()
			h.Register(mux)
			body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer good")
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
