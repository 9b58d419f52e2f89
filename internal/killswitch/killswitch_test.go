package killswitch

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/redistest"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/sqlite"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func create(t *testing.T, st store.KillSwitches, scope store.KillScope, target, reason string) store.KillSwitch {
	t.Helper()
	k, err := st.CreateKillSwitch(context.Background(), store.KillSwitch{Scope: scope, Target: target, Reason: reason, CreatedBy: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	create(t, st, store.KillModel, "gpt-4o", "leaking prompts")
	create(t, st, store.KillEndpoint, "12", "")
	create(t, st, store.KillUser, "mallory", "abuse")
	create(t, st, store.KillApp, "dify", "runaway workflow")
	create(t, st, store.KillKey, "7", "key leaked")
	lifted := create(t, st, store.KillUser, "bob", "mistake")
	if _, err := st.LiftKillSwitch(ctx, lifted.ID, "admin", time.Now()); err != nil {
		t.Fatal(err)
	}
	r, err := New(ctx, st, nil, quiet())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		subj    Subjects
		blocked bool
		reason  string
	}{
		{"clean", Subjects{Model: "gpt-4o-mini", Endpoint: "1", UserOID: "alice", AppID: "bff", KeyID: 1}, false, ""},
		{"model", Subjects{Model: "gpt-4o", UserOID: "alice"}, true, "leaking prompts"},
		{"endpoint", Subjects{Model: "x", Endpoint: "12", UserOID: "alice"}, true, "endpoint '12'"},
		{"user", Subjects{UserOID: "mallory"}, true, "abuse"},
		{"app", Subjects{UserOID: "alice", AppID: "dify"}, true, "runaway workflow"},
		{"key", Subjects{UserOID: "alice", KeyID: 7}, true, "key leaked"},
		{"lifted", Subjects{UserOID: "bob"}, false, ""},
		{"empty subjects", Subjects{}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := r.Check(tc.subj)
			if (e != nil) != tc.blocked {
				t.Fatalf("Check = %v, want blocked %v", e, tc.blocked)
			}
			if e == nil {
				return
			}
			if e.Status != 403 || e.Code != "kill_switch" || !strings.Contains(e.Message, tc.reason) {
				t.Fatalf("error %+v, want 403 kill_switch mentioning %q", e, tc.reason)
			}
		})
	}
	if got := len(r.Active()); got != 5 {
		t.Fatalf("Active = %d switches, want 5", got)
	}
	// Global blocks everything.
	g := create(t, st, store.KillGlobal, "", "maintenance")
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if e := r.Check(Subjects{UserOID: "alice"}); e == nil || !strings.Contains(e.Message, "maintenance") {
		t.Fatalf("global: %v", e)
	}
	if _, err := st.LiftKillSwitch(ctx, g.ID, "admin", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if e := r.Check(Subjects{UserOID: "alice"}); e != nil {
		t.Fatalf("after lifting the global switch: %v", e)
	}
}

// TestTrackCutsInFlight: a new switch cancels the matching calls in flight,
// with the 403 as cause, and leaves the others alone.
func TestTrackCutsInFlight(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	bus := events.NewLocal()
	r, err := New(ctx, st, bus, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mctx, mcancel := context.WithCancelCause(ctx)
	defer mcancel(nil)
	octx, ocancel := context.WithCancelCause(ctx)
	defer ocancel(nil)
	untrackM := r.Track(Subjects{Model: "m", UserOID: "mallory"}, mcancel)
	untrackO := r.Track(Subjects{Model: "m", UserOID: "alice"}, ocancel)
	defer untrackO()
	if r.Tracked() != 2 {
		t.Fatalf("tracked %d", r.Tracked())
	}
	create(t, st, store.KillUser, "mallory", "abuse")
	_ = bus.Publish(ctx, events.Event{Kind: events.KillSwitchChanged, ID: "1"})
	select {
	case <-mctx.Done():
	case <-time.After(time.Second):
		t.Fatal("the blocked user's call was not cut")
	}
	var e *apierror.Error
	if c := context.Cause(mctx); !errors.As(c, &e) || e.Code != "kill_switch" || !errors.Is(c, ErrBlocked) {
		t.Fatalf("cause = %v", c)
	}
	if octx.Err() != nil {
		t.Fatal("another user's call was cut")
	}
	untrackM()
	if r.Tracked() != 1 {
		t.Fatalf("tracked %d after untrack", r.Tracked())
	}
	// Tracking a call that is already blocked cancels it at once.
	c2, cancel2 := context.WithCancelCause(ctx)
	defer cancel2(nil)
	defer r.Track(Subjects{UserOID: "mallory"}, cancel2)()
	if c2.Err() == nil {
		t.Fatal("a call of a blocked user was not cancelled at Track")
	}
}

// TestAcrossReplicas: a switch set through replica A blocks on replica B
// (same database, same Redis) within one second, including a call in flight.
func TestAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	replica := func() (*Registry, events.Bus) {
		opt, err := redis.ParseURL(redistest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		bus, err := events.NewRedis(ctx, c, "", quiet())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bus.Close() })
		r, err := New(ctx, st, bus, quiet())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return r, bus
	}
	_, busA := replica()
	b, _ := replica()
	subj := Subjects{Model: "m", UserOID: "alice", KeyID: 42}
	inflight, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer b.Track(subj, cancel)()
	if e := b.Check(subj); e != nil {
		t.Fatal(e)
	}

	k := create(t, st, store.KillKey, "42", "leaked on a forum")
	set := time.Now()
	if err := busA.Publish(ctx, events.Event{Kind: events.KillSwitchChanged, ID: "x"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inflight.Done():
	case <-time.After(time.Second):
		t.Fatal("the in-flight call on B was not cut within 1s")
	}
	if e := b.Check(subj); e == nil {
		t.Fatal("B does not block the key")
	}
	t.Logf("blocked on B after %v", time.Since(set))

	if _, err := st.LiftKillSwitch(ctx, k.ID, "admin", time.Now()); err != nil {
		t.Fatal(err)
	}
	_ = busA.Publish(ctx, events.Event{Kind: events.KillSwitchChanged, ID: "x"})
	deadline := time.Now().Add(time.Second)
	for b.Check(subj) != nil {
		if time.Now().After(deadline) {
			t.Fatal("B still blocks 1s after the switch was lifted")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
