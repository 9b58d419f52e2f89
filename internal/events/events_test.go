package events

import (
	"context"
	"io"
	"log/slog"
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
