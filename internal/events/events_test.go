package events

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/redistest"
)

func TestLocal(t *testing.T) {
	l := NewLocal()
	var got []Event
	cancel := l.Subscribe(func(e Event) { got = append(got, e) })
	_ = l.Publish(context.Background(), Event{Kind: KeyChanged, ID: "h"})
	cancel()
	_ = l.Publish(context.Background(), Event{Kind: KeyChanged, ID: "after"})
	if len(got) != 1 || got[0].ID != "h" {
		t.Fatalf("got %v", got)
	}
}

// TestRedisReachesEveryReplica: an event published on one bus arrives on another
// bus on the same Redis (and on the publisher's own).
func TestRedisReachesEveryReplica(t *testing.T) {
	u := redistest.URL(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	newBus := func() *Redis {
		opt, _ := redis.ParseURL(u)
		c := redis.NewClient(opt)
		t.Cleanup(func() { _ = c.Close() })
		b, err := NewRedis(ctx, c, "", log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	a, b := newBus(), newBus()
	var mu sync.Mutex
	seen := map[string]int{}
	want := Event{Kind: UserChanged, ID: "user-" + time.Now().Format(time.RFC3339Nano)}
	for name, bus := range map[string]*Redis{"a": a, "b": b} {
		bus.Subscribe(func(e Event) {
			if e == want {
				mu.Lock()
				seen[name]++
				mu.Unlock()
			}
		})
	}
	if err := a.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		mu.Lock()
		done := seen["a"] == 1 && seen["b"] == 1
		mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %v within 1s", seen)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRedisResubscribeResets: when the subscription's connection is lost,
// go-redis resubscribes and the bus delivers a Reset locally (messages
// published meanwhile are lost), then ordinary events flow again.
func TestRedisResubscribeResets(t *testing.T) {
	u := redistest.URL(t)
	ctx := context.Background()
	opt, _ := redis.ParseURL(u)
	name := "gw-resub-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	opt.ClientName = name
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	channel := name + ":events"
	bus, err := NewRedis(ctx, c, channel, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	var mu sync.Mutex
	var got []Event
	bus.Subscribe(func(e Event) { mu.Lock(); got = append(got, e); mu.Unlock() })
	has := func(want Event) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range got {
			if e == want {
				return true
			}
		}
		return false
	}
	time.Sleep(100 * time.Millisecond)
	if has(Event{Kind: Reset}) {
		t.Fatal("Reset delivered without any lost connection")
	}
	// Kill this bus's own connections (found by client name) from another client.
	admin := redis.NewClient(&redis.Options{Addr: opt.Addr, DB: opt.DB})
	t.Cleanup(func() { _ = admin.Close() })
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err == nil {
					killed++
				}
			}
		}
	}
	if killed == 0 {
		t.Fatal("found no connection of the bus to kill")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !has(Event{Kind: Reset}) {
		if time.Now().After(deadline) {
			t.Fatal("no Reset delivered after the subscription was lost")
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := Event{Kind: KeyChanged, ID: "after-resubscribe"}
	for !has(want) {
		if err := bus.Publish(ctx, want); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("events do not flow after the resubscription")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedisSubscriberPanic: a subscriber that panics on an event (a bug) is
// logged; the bus goes on delivering the next events.
func TestRedisSubscriberPanic(t *testing.T) {
	u := redistest.URL(t)
	ctx := context.Background()
	var logs strings.Builder
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))
	opt, _ := redis.ParseURL(u)
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	channel := "test-panic-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	bus, err := NewRedis(ctx, c, channel, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	bus.Subscribe(func(e Event) {
		if e.ID == "boom" {
			panic("subscriber bug")
		}
	})
	got := make(chan string, 4)
	bus.Subscribe(func(e Event) { got <- e.ID })
	for _, id := range []string{"boom", "after"} {
		if err := bus.Publish(ctx, Event{Kind: KeyChanged, ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	timeout := time.After(2 * time.Second)
	for {
		select {
		case id := <-got:
			if id != "after" {
				continue
			}
			logMu.Lock()
			defer logMu.Unlock()
			if !strings.Contains(logs.String(), "subscriber panicked") {
				t.Errorf("the panic was not logged:\n%s", logs.String())
			}
			return
		case <-timeout:
			t.Fatal("the event after the panic was not delivered within 2s")
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
