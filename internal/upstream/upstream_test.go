package upstream

import (
	"context"
	"io"
	"math/rand/v2"
	"net/url"
	"testing"

	"github.com/antigravity/gateway/internal/store"
)

func ep(id int64, prio, weight int) *Endpoint {
	u, _ := url.Parse("http://up.example/v1")
	return NewEndpoint(store.Endpoint{ID: id, Provider: store.ProviderOpenAI, Priority: prio, Weight: weight, Active: true}, "", u)
}

func TestWeightedSelect(t *testing.T) {
	a, b, c := ep(1, 1, 1), ep(2, 1, 3), ep(3, 2, 1)
	pool := &Pool{Endpoints: []*Endpoint{a, b, c}}
	cases := []struct {
		name  string
		tried []*Endpoint
		rnd   int
		want  *Endpoint
		err   bool
	}{
		{"first of group by weight", nil, 0, a, false},
		{"second of group by weight", nil, 1, b, false},
		{"last of weight range", nil, 3, b, false},
		{"skips tried", []*Endpoint{a}, 0, b, false},
		{"falls to lower priority when the group is exhausted", []*Endpoint{a, b}, 0, c, false},
		{"nothing left", []*Endpoint{a, b, c}, 0, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Weighted{Rand: func(int) int { return tc.rnd }}.Select(pool, tc.tried)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestWeightedFollowsWeights: 1:3 weights give about 25%/75% over many draws.
func TestWeightedFollowsWeights(t *testing.T) {
	a, b := ep(1, 1, 1), ep(2, 1, 3)
	pool := &Pool{Endpoints: []*Endpoint{a, b}}
	r := rand.New(rand.NewPCG(1, 2))
	sel := Weighted{Rand: r.IntN}
	const n = 40000
	counts := map[*Endpoint]int{}
	for i := 0; i < n; i++ {
		e, _ := sel.Select(pool, nil)
		counts[e]++
	}
	share := float64(counts[b]) / n
	if share < 0.74 || share > 0.76 {
		t.Fatalf("weight-3 endpoint got %.3f of the traffic, want ≈0.75", share)
	}
}

func TestNewRequestPerProvider(t *testing.T) {
	base, _ := url.Parse("https://res.openai.azure.com")
	az := NewEndpoint(store.Endpoint{ID: 1, Provider: store.ProviderAzure, UpstreamModel: "gpt4o-deploy", APIVersion: "2024-10-21"}, "azure-key", base)
	req, err := NewRequest(context.Background(), az, ChatCompletions, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.String() != "https://res.openai.azure.com/openai/deployments/gpt4o-deploy/chat/completions?api-version=2024-10-21" {
		t.Fatalf("azure url %s", req.URL)
	}
	if req.Header.Get("api-key") != "azure-key" || req.Header.Get("Authorization") != "" {
		t.Fatalf("azure headers %v", req.Header)
	}
	oaBase, _ := url.Parse("https://api.openai.com/v1/")
	oa := NewEndpoint(store.Endpoint{ID: 2, Provider: store.ProviderOpenAI}, "sk-up", oaBase)
	req, _ = NewRequest(context.Background(), oa, Embeddings, []byte(`{"a":1}`))
	if req.URL.String() != "https://api.openai.com/v1/embeddings" || req.Header.Get("Authorization") != "Bearer sk-up" {
		t.Fatalf("openai request %s %v", req.URL, req.Header)
	}
	b, _ := io.ReadAll(req.Body)
	if string(b) != `{"a":1}` {
		t.Fatalf("body %s", b)
	}
	local := NewEndpoint(store.Endpoint{ID: 3, Provider: store.ProviderOpenAICompatible}, "", oaBase)
	req, _ = NewRequest(context.Background(), local, ChatCompletions, nil)
	if req.Header.Get("Authorization") != "" {
		t.Fatal("no credential must mean no Authorization header")
	}
	if _, err := NewRequest(context.Background(), NewEndpoint(store.Endpoint{Provider: "bogus"}, "", oaBase), ChatCompletions, nil); err == nil {
		t.Fatal("unknown provider accepted")
	}
}

func TestAcquireReleaseOnce(t *testing.T) {
	e := ep(1, 1, 1)
	rel := e.Acquire()
	if e.Inflight() != 1 {
		t.Fatal("not counted in")
	}
	rel(true)
	rel(true) // second call is a no-op
	if req, fail := e.Stats(); e.Inflight() != 0 || req != 1 || fail != 1 {
		t.Fatalf("inflight %d stats %d/%d", e.Inflight(), req, fail)
	}
}

type fakeSource struct {
	models []store.Model
	eps    []store.Endpoint
}

func (f *fakeSource) ListModels(context.Context) ([]store.Model, error) { return f.models, nil }
func (f *fakeSource) ListEndpoints(context.Context, string) ([]store.Endpoint, error) {
	return f.eps, nil
}

// TestRegistryReloadKeepsState: an in-flight request that started before a reload
// releases into the same counters the new snapshot shows.
func TestRegistryReloadKeepsState(t *testing.T) {
	src := &fakeSource{
		models: []store.Model{{Name: "m", Active: true}, {Name: "off", Active: false}},
		eps: []store.Endpoint{
			{ID: 1, Model: "m", Provider: store.ProviderOpenAI, BaseURL: "http://a", Priority: 2, Active: true},
			{ID: 2, Model: "m", Provider: store.ProviderOpenAI, BaseURL: "http://b", Priority: 1, Active: true},
			{ID: 3, Model: "m", Provider: store.ProviderOpenAI, BaseURL: "http://c", Priority: 1, Active: false},
		},
	}
	r, err := NewRegistry(src, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := r.Pool("m")
	if len(p.Endpoints) != 2 || p.Endpoints[0].ID() != 2 || p.Endpoints[1].ID() != 1 {
		t.Fatalf("endpoints not active-only by priority: %v", p.Endpoints)
	}
	release := p.Endpoints[0].Acquire()
	src.eps[1].Weight = 5
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := r.Pool("m").Endpoints[0]
	if after.Config.Weight != 5 || after.Inflight() != 1 {
		t.Fatalf("after reload: weight %d inflight %d", after.Config.Weight, after.Inflight())
	}
	release(false)
	if after.Inflight() != 0 {
		t.Fatal("release did not reach the reloaded endpoint's counters")
	}
	if got := r.Snapshot().Names; len(got) != 2 || got[0] != "m" || got[1] != "off" {
		t.Fatalf("names %v", got)
	}
}
