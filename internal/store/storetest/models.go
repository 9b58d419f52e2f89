package storetest

import (
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

func testModels(t *testing.T, s store.Store) {
	c := ctx(t)
	before := time.Now()
	m := try(s.CreateModel(c, store.Model{
		Name: "gpt-4o", ContextWindow: 128000, MaxOutputTokens: 16384,
		InputPrice: 2_500_000, OutputPrice: 10_000_000, CachedInputPrice: 1_250_000,
		Routing: "latency", Active: true,
	})).must(t)
	after := time.Now()
	recent(t, m.CreatedAt, before, after, "CreatedAt")
	equal(t, m.UpdatedAt, m.CreatedAt, "UpdatedAt")
	equal(t, try(s.GetModel(c, "gpt-4o")).must(t), m, "GetModel")

	t.Run("prices round trip exactly", func(t *testing.T) {
		prices := []money.Micros{0, 1, 150, 999_999, 1_000_001, 1<<53 + 1, 1<<62 + 12345}
		for i, p := range prices {
			name := "price-" + pad3(i)
			try(s.CreateModel(c, store.Model{Name: name, InputPrice: p, OutputPrice: p + 1, CachedInputPrice: p / 2})).must(t)
			got := try(s.GetModel(c, name)).must(t)
			equal(t, []money.Micros{got.InputPrice, got.OutputPrice, got.CachedInputPrice},
				[]money.Micros{p, p + 1, p / 2}, "prices of "+name)
			equal(t, got.Routing, "", "default routing")
			equal(t, got.Active, false, "Active as given")
		}
	})

	t.Run("conflict and not found", func(t *testing.T) {
		_, err := s.CreateModel(c, store.Model{Name: "gpt-4o"})
		wantErr(t, err, store.ErrConflict)
		_, err = s.GetModel(c, "nope")
		wantErr(t, err, store.ErrNotFound)
		_, err = s.UpdateModel(c, "nope", store.ModelPatch{Routing: ptr("x")})
		wantErr(t, err, store.ErrNotFound)
		_, err = s.UpdateModel(c, "nope", store.ModelPatch{})
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, s.DeleteModel(c, "nope"), store.ErrNotFound)
		_, err = s.CreateModel(c, store.Model{Name: ""})
		wantFail(t, err, "empty model name")
	})

	t.Run("update", func(t *testing.T) {
		time.Sleep(2 * time.Millisecond)
		got := try(s.UpdateModel(c, "gpt-4o", store.ModelPatch{
			OutputPrice: ptr(money.Micros(12_000_000)), Routing: ptr("weighted"), Active: ptr(false),
		})).must(t)
		want := m
		want.OutputPrice, want.Routing, want.Active, want.UpdatedAt = 12_000_000, "weighted", false, got.UpdatedAt
		equal(t, got, want, "UpdateModel")
		if !got.UpdatedAt.After(m.UpdatedAt) {
			t.Fatal("UpdatedAt did not move")
		}
		equal(t, try(s.GetModel(c, "gpt-4o")).must(t), got, "GetModel after update")
		got = try(s.UpdateModel(c, "gpt-4o", store.ModelPatch{
			ContextWindow: ptr(int64(1_000_000)), MaxOutputTokens: ptr(int64(32768)),
			InputPrice: ptr(money.Micros(3)), CachedInputPrice: ptr(money.Micros(0)),
		})).must(t)
		equal(t, []int64{got.ContextWindow, got.MaxOutputTokens, int64(got.InputPrice), int64(got.OutputPrice), int64(got.CachedInputPrice)},
			[]int64{1_000_000, 32768, 3, 12_000_000, 0}, "second update")
		equal(t, try(s.UpdateModel(c, "gpt-4o", store.ModelPatch{})).must(t), got, "empty patch")
	})

	t.Run("list by name", func(t *testing.T) {
		mkModel(t, s, "a-model")
		got := try(s.ListModels(c)).must(t)
		var names []string
		for _, m := range got {
			names = append(names, m.Name)
		}
		want := []string{"a-model", "gpt-4o"}
		for i := range 7 {
			want = append(want, "price-"+pad3(i))
		}
		equal(t, names, want, "ListModels order")
		equal(t, got[1], try(s.GetModel(c, "gpt-4o")).must(t), "listed model")
	})

	t.Run("delete", func(t *testing.T) {
		ok(t, s.DeleteModel(c, "a-model"))
		_, err := s.GetModel(c, "a-model")
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, s.DeleteModel(c, "a-model"), store.ErrNotFound)
		// The name can be used again.
		mkModel(t, s, "a-model")
	})
}

func testEndpoints(t *testing.T, s store.Store) {
	c := ctx(t)
	mkModel(t, s, "m1")
	mkModel(t, s, "m2")

	t.Run("missing model", func(t *testing.T) {
		_, err := s.CreateEndpoint(c, store.Endpoint{Model: "nope", Provider: store.ProviderOpenAI, Weight: 1})
		wantErr(t, err, store.ErrReferenced)
	})

	cred := []byte{0, 1, 2, 0xff, 0xfe, 'x', 0}
	before := time.Now()
	e := try(s.CreateEndpoint(c, store.Endpoint{
		Model: "m1", Provider: store.ProviderAzure, BaseURL: "https://az.example.com",
		UpstreamModel: "gpt-4o-2024", APIVersion: "2024-06-01", Credential: cred,
		Weight: 3, Priority: 2, RPMLimit: 600, TPMLimit: 1 << 40, Active: true,
	})).must(t)
	after := time.Now()
	if e.ID <= 0 {
		t.Fatalf("ID = %d", e.ID)
	}
	recent(t, e.CreatedAt, before, after, "CreatedAt")
	equal(t, try(s.GetEndpoint(c, e.ID)).must(t), e, "GetEndpoint")
	equal(t, try(s.GetEndpoint(c, e.ID)).must(t).Credential, cred, "credential bytes")

	e2 := try(s.CreateEndpoint(c, store.Endpoint{Model: "m2", Provider: store.ProviderFake, Weight: 1})).must(t)
	e3 := try(s.CreateEndpoint(c, store.Endpoint{Model: "m1", Provider: store.ProviderOpenAI, Weight: 1, Active: true})).must(t)
	if got := try(s.GetEndpoint(c, e2.ID)).must(t); got.Credential != nil || got.Active || got.RPMLimit != 0 {
		t.Fatalf("endpoint without credential read back as %+v", got)
	}

	t.Run("list", func(t *testing.T) {
		ids := func(es []store.Endpoint) []int64 {
			out := []int64{}
			for _, e := range es {
				out = append(out, e.ID)
			}
			return out
		}
		equal(t, ids(try(s.ListEndpoints(c, "m1")).must(t)), []int64{e.ID, e3.ID}, "m1 endpoints")
		equal(t, ids(try(s.ListEndpoints(c, "")).must(t)), []int64{e.ID, e2.ID, e3.ID}, "all endpoints")
		equal(t, ids(try(s.ListEndpoints(c, "zzz")).must(t)), []int64{}, "unknown model endpoints")
		equal(t, try(s.ListEndpoints(c, "m1")).must(t)[0], e, "listed endpoint")
	})

	t.Run("update", func(t *testing.T) {
		time.Sleep(2 * time.Millisecond)
		got := try(s.UpdateEndpoint(c, e.ID, store.EndpointPatch{
			BaseURL: ptr("https://b.example.com"), Weight: ptr(7), TPMLimit: ptr(int64(0)), Active: ptr(false),
		})).must(t)
		want := e
		want.BaseURL, want.Weight, want.TPMLimit, want.Active, want.UpdatedAt = "https://b.example.com", 7, 0, false, got.UpdatedAt
		equal(t, got, want, "UpdateEndpoint")
		if !got.UpdatedAt.After(e.UpdatedAt) {
			t.Fatal("UpdatedAt did not move")
		}
		got = try(s.UpdateEndpoint(c, e.ID, store.EndpointPatch{
			Credential: []byte("new-secret"), Provider: ptr(store.ProviderOpenAICompatible),
			UpstreamModel: ptr("u2"), APIVersion: ptr(""), Priority: ptr(-1), RPMLimit: ptr(int64(5)),
		})).must(t)
		equal(t, got.Credential, []byte("new-secret"), "credential changed")
		equal(t, []any{got.Provider, got.UpstreamModel, got.APIVersion, got.Priority, got.RPMLimit},
			[]any{store.ProviderOpenAICompatible, "u2", "", -1, int64(5)}, "second update")
		same := try(s.UpdateEndpoint(c, e.ID, store.EndpointPatch{})).must(t)
		equal(t, same, got, "empty patch keeps everything (credential nil: unchanged)")
		equal(t, try(s.GetEndpoint(c, e.ID)).must(t), got, "GetEndpoint after update")
	})

	t.Run("not found", func(t *testing.T) {
		_, err := s.GetEndpoint(c, 987654321)
		wantErr(t, err, store.ErrNotFound)
		_, err = s.UpdateEndpoint(c, 987654321, store.EndpointPatch{Weight: ptr(1)})
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, s.DeleteEndpoint(c, 987654321), store.ErrNotFound)
	})

	t.Run("delete", func(t *testing.T) {
		ok(t, s.DeleteEndpoint(c, e3.ID))
		_, err := s.GetEndpoint(c, e3.ID)
		wantErr(t, err, store.ErrNotFound)
		equal(t, len(try(s.ListEndpoints(c, "m1")).must(t)), 1, "m1 endpoints after delete")
	})

	t.Run("cascade on model delete", func(t *testing.T) {
		ok(t, s.DeleteModel(c, "m1"))
		_, err := s.GetEndpoint(c, e.ID)
		wantErr(t, err, store.ErrNotFound)
		equal(t, len(try(s.ListEndpoints(c, "m1")).must(t)), 0, "m1 endpoints after model delete")
		equal(t, try(s.GetEndpoint(c, e2.ID)).must(t).Model, "m2", "other model's endpoint kept")
	})
}
