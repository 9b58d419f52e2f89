package delegation

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// countingSource is a Source over maps that counts loads per id.
type countingSource struct {
	mu    sync.Mutex
	users map[string]store.User
	apps  map[string]store.App
	fail  error
	loads map[string]int
}

func newCountingSource() *countingSource {
	return &countingSource{
		users: map[string]store.User{"alice": {OID: "alice", Active: true}},
		apps:  map[string]store.App{"app": {AppID: "app", OwnerID: "alice", IsActive: true}},
		loads: map[string]int{},
	}
}

func (s *countingSource) GetUser(_ context.Context, oid string) (store.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads["user:"+oid]++
	if s.fail != nil {
		return store.User{}, s.fail
	}
	u, ok := s.users[oid]
	if !ok {
		return u, store.ErrNotFound
	}
	return u, nil
}

func (s *countingSource) GetApp(_ context.Context, id string) (store.App, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads["app:"+id]++
	if s.fail != nil {
		return store.App{}, s.fail
	}
	a, ok := s.apps[id]
	if !ok {
		return a, store.ErrNotFound
	}
	return a, nil
}

func (s *countingSource) set(f func()) {
	s.mu.Lock()
	f()
	s.mu.Unlock()
}

func (s *countingSource) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads[key]
}

func TestCachedDirectory(t *testing.T) {
	ctx := context.Background()
	type step struct {
		name   string
		do     func(src *countingSource, bus events.Bus, d *CachedDirectory)
		key    string // "user:<oid>" or "app:<id>" looked up after do
		found  bool
		active bool
		loads  int // loads of key so far
	}
	user := func(id string) string { return "user:" + id }
	app := func(id string) string { return "app:" + id }
	publish := func(kind, id string) func(*countingSource, events.Bus, *CachedDirectory) {
		return func(_ *countingSource, bus events.Bus, _ *CachedDirectory) {
			_ = bus.Publish(ctx, events.Event{Kind: kind, ID: id})
		}
	}
	nothing := func(*countingSource, events.Bus, *CachedDirectory) {}
	steps := []step{
		{"user miss loads", nothing, user("alice"), true, true, 1},
		{"user hit does not load", nothing, user("alice"), true, true, 1},
		{"change without event: still cached", func(s *countingSource, _ events.Bus, _ *CachedDirectory) {
			s.set(func() { s.users["alice"] = store.User{OID: "alice", Active: false} })
		}, user("alice"), true, true, 1},
		{"UserChanged drops the entry", publish(events.UserChanged, "alice"), user("alice"), true, false, 2},
		{"unknown user is remembered", nothing, user("ghost"), false, false, 1},
		{"unknown user again: no load", nothing, user("ghost"), false, false, 1},
		{"created user seen after its event", func(s *countingSource, bus events.Bus, _ *CachedDirectory) {
			s.set(func() { s.users["ghost"] = store.User{OID: "ghost", Active: true} })
			_ = bus.Publish(ctx, events.Event{Kind: events.UserChanged, ID: "ghost"})
		}, user("ghost"), true, true, 2},
		{"app miss loads", nothing, app("app"), true, true, 1},
		{"app disabled, AppChanged for another app: cached", func(s *countingSource, bus events.Bus, _ *CachedDirectory) {
			s.set(func() { s.apps["app"] = store.App{AppID: "app", IsActive: false} })
			_ = bus.Publish(ctx, events.Event{Kind: events.AppChanged, ID: "other"})
		}, app("app"), true, true, 1},
		{"UserChanged does not drop apps", publish(events.UserChanged, "app"), app("app"), true, true, 1},
		{"AppChanged drops the app", publish(events.AppChanged, "app"), app("app"), true, false, 2},
		{"app deleted, Reset drops everything", func(s *countingSource, bus events.Bus, _ *CachedDirectory) {
			s.set(func() { delete(s.apps, "app") })
			_ = bus.Publish(ctx, events.Event{Kind: events.Reset})
		}, app("app"), false, false, 3},
		{"InvalidateAll drops users", func(_ *countingSource, _ events.Bus, d *CachedDirectory) { d.InvalidateAll() },
			user("alice"), true, false, 3},
		{"after Close events are ignored", func(_ *countingSource, bus events.Bus, d *CachedDirectory) {
			d.Close()
			_ = bus.Publish(ctx, events.Event{Kind: events.UserChanged, ID: "alice"})
		}, user("alice"), true, false, 3},
	}
	src := newCountingSource()
	bus := events.NewLocal()
	d, err := NewCachedDirectory(src, bus, CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		s.do(src, bus, d)
		var found, active bool
		var err error
		switch table, id, _ := strings.Cut(s.key, ":"); table {
		case "user":
			var u store.User
			u, err = d.User(ctx, id)
			found, active = err == nil, u.Active
		default:
			var a store.App
			a, err = d.App(ctx, id)
			found, active = err == nil, a.IsActive
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: %v", s.name, err)
		}
		if found != s.found || active != s.active || src.count(s.key) != s.loads {
			t.Fatalf("%s: found %v active %v loads %d, want %v %v %d", s.name, found, active, src.count(s.key),
				s.found, s.active, s.loads)
		}
	}
}

func TestCachedDirectoryErrorsNotCached(t *testing.T) {
	ctx := context.Background()
	src := newCountingSource()
	src.fail = errors.New("database down")
	d, err := NewCachedDirectory(src, nil, CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.User(ctx, "alice"); !errors.Is(err, src.fail) {
		t.Fatalf("err = %v, want the source's error", err)
	}
	src.set(func() { src.fail = nil })
	if u, err := d.User(ctx, "alice"); err != nil || !u.Active || src.count("user:alice") != 2 {
		t.Fatalf("after recovery: %+v %v loads %d", u, err, src.count("user:alice"))
	}
}

func TestCachedDirectoryNegativeTTL(t *testing.T) {
	ctx := context.Background()
	src := newCountingSource()
	d, err := NewCachedDirectory(src, nil, CacheOptions{TTL: time.Hour, NegativeTTL: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.App(ctx, "new"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	src.set(func() { src.apps["new"] = store.App{AppID: "new", IsActive: true} })
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, err := d.App(ctx, "new")
		if err == nil && a.IsActive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("negative entry never expired: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Found rows live for the (long) TTL.
	before := src.count("app:app")
	for range 3 {
		if _, err := d.App(ctx, "app"); err != nil {
			t.Fatal(err)
		}
	}
	if got := src.count("app:app") - before; got != 1 {
		t.Fatalf("loads of a found app = %d, want 1", got)
	}
}
