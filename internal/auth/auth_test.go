package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// fakeKeys is a hand-written store.Keys that counts lookups.
type fakeKeys struct {
	store.Keys
	mu      sync.Mutex
	byHash  map[string]store.KeyOwner
	lookups int
	fail    error
	touched map[int64]time.Time
}

func (f *fakeKeys) KeyByHash(_ context.Context, hash string) (store.KeyOwner, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.fail != nil {
		return store.KeyOwner{}, f.fail
	}
	ko, ok := f.byHash[hash]
	if !ok {
		return store.KeyOwner{}, store.ErrNotFound
	}
	return ko, nil
}

func (f *fakeKeys) TouchKeys(_ context.Context, used map[int64]time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.touched == nil {
		f.touched = map[int64]time.Time{}
	}
	for k, v := range used {
		f.touched[k] = v
	}
	return nil
}

func (f *fakeKeys) set(plain string, ko store.KeyOwner) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byHash[HashKey(plain)] = ko
}

func TestNewKey(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		plain, hash, prefix, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(plain, KeyPrefix) || len(plain) != len(KeyPrefix)+43 {
			t.Fatalf("bad key %q", plain)
		}
		if hash != HashKey(plain) || len(hash) != 64 || !strings.HasPrefix(plain, prefix) || len(prefix) != 12 {
			t.Fatalf("bad hash/prefix %q %q", hash, prefix)
		}
		if seen[plain] {
			t.Fatal("duplicate key")
		}
		seen[plain] = true
	}
}

func TestBearerToken(t *testing.T) {
	cases := []struct{ auth, apiKey, want string }{
		{"Bearer sk-gate-x", "", "sk-gate-x"},
		{"bearer  sk-gate-x ", "", "sk-gate-x"},
		{"Basic abc", "", ""},
		{"", "sk-gate-y", "sk-gate-y"},
		{"", "", ""},
	}
	for _, c := range cases {
		if got := BearerToken(c.auth, c.apiKey); got != c.want {
			t.Errorf("BearerToken(%q,%q) = %q, want %q", c.auth, c.apiKey, got, c.want)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	alice := store.User{OID: "alice", Role: store.RoleUser, Active: true}
	keys := &fakeKeys{byHash: map[string]store.KeyOwner{}}
	keys.set("sk-gate-good", store.KeyOwner{Key: store.APIKey{ID: 1, Active: true, ExpiresAt: &future, AllowedModels: []string{"m1"}}, User: alice})
	keys.set("sk-gate-revoked", store.KeyOwner{Key: store.APIKey{ID: 2, Active: false}, User: alice})
	keys.set("sk-gate-expired", store.KeyOwner{Key: store.APIKey{ID: 3, Active: true, ExpiresAt: &past}, User: alice})
	keys.set("sk-gate-inactive-user", store.KeyOwner{Key: store.APIKey{ID: 4, Active: true}, User: store.User{OID: "bob", Active: false}})
	bus := events.NewLocal()
	a, err := New(keys, bus, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		key, wantMsg string
	}{
		{"", "Missing API key"},
		{"sk-gate-unknown", "Incorrect API key"},
		{"sk-gate-revoked", "revoked"},
		{"sk-gate-expired", "expired"},
		{"sk-gate-inactive-user", "disabled"},
		{strings.Repeat("x", 300), "Incorrect API key"},
	} {
		_, err := a.Authenticate(ctx, c.key)
		var e *apierror.Error
		if !errors.As(err, &e) || e.Status != 401 || e.Code != "invalid_api_key" || !strings.Contains(e.Message, c.wantMsg) {
			t.Errorf("key %.20q: err = %v, want 401 invalid_api_key containing %q", c.key, err, c.wantMsg)
		}
	}
	p, err := a.Authenticate(ctx, "sk-gate-good")
	if err != nil {
		t.Fatal(err)
	}
	if p.UserOID != "alice" || p.KeyID != 1 || !p.MayUse("m1") || p.MayUse("m2") || p.IsAdmin() {
		t.Fatalf("principal = %+v", p)
	}

	// Hits do not touch the store.
	before := keys.lookups
	for i := 0; i < 50; i++ {
		if _, err := a.Authenticate(ctx, "sk-gate-good"); err != nil {
			t.Fatal(err)
		}
	}
	if keys.lookups != before {
		t.Fatalf("cache hits reached the store %d times", keys.lookups-before)
	}

	// Revocation through the bus takes effect at once.
	keys.set("sk-gate-good", store.KeyOwner{Key: store.APIKey{ID: 1, Active: false}, User: alice})
	_ = bus.Publish(ctx, events.Event{Kind: events.KeyChanged, ID: HashKey("sk-gate-good")})
	if _, err := a.Authenticate(ctx, "sk-gate-good"); err == nil {
		t.Fatal("revoked key still accepted after the event")
	}

	// A user reactivated: refusals cached for their keys are dropped too.
	keys.set("sk-gate-inactive-user", store.KeyOwner{Key: store.APIKey{ID: 4, Active: true}, User: store.User{OID: "bob", Active: true}})
	_ = bus.Publish(ctx, events.Event{Kind: events.UserChanged, ID: "bob"})
	if _, err := a.Authenticate(ctx, "sk-gate-inactive-user"); err != nil {
		t.Fatalf("reactivated user's key refused: %v", err)
	}

	// Store outage on a miss: 503, not a 401.
	keys.fail = errors.New("db down")
	_, err = a.Authenticate(ctx, "sk-gate-other")
	var e *apierror.Error
	if !errors.As(err, &e) || e.Status != 503 {
		t.Fatalf("outage: err = %v", err)
	}
	keys.fail = nil

	// Last-used times are flushed in one batch.
	if err := a.FlushLastUsed(ctx); err != nil {
		t.Fatal(err)
	}
	if !keys.touched[1].Equal(now) || !keys.touched[4].Equal(now) {
		t.Fatalf("touched = %v", keys.touched)
	}
}
