package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/redis/go-redis/v9"
)

// DefaultChannel is the Redis pub/sub channel replicas share by default.
const DefaultChannel = "gw:events"

// Redis is the bus of production mode: Publish goes through Redis, and every
// replica (this one too) delivers what arrives to its local subscribers.
type Redis struct {
	client  *redis.Client
	local   *Local
	log     *slog.Logger
	sub     *redis.PubSub
	channel string
	done    chan struct{}
	once    sync.Once
}

// NewRedis subscribes to channel ("" : DefaultChannel) and starts delivering.
func NewRedis(ctx context.Context, client *redis.Client, channel string, log *slog.Logger) (*Redis, error) {
	if channel == "" {
		channel = DefaultChannel
	}
	r := &Redis{client: client, local: NewLocal(), log: log, done: make(chan struct{}), channel: channel}
	r.sub = client.Subscribe(ctx, channel)
	if _, err := r.sub.Receive(ctx); err != nil { // wait for the subscription confirmation
		_ = r.sub.Close()
		return nil, err
	}
	go r.loop()
	return r, nil
}

func (r *Redis) loop() {
	defer close(r.done)
	// With subscriptions: go-redis resubscribes by itself after a lost
	// connection and reports it here. Messages published meanwhile are lost, so
	// a resubscription is delivered locally as a Reset: every cache drops its
	// entries and every registry reloads.
	for m := range r.sub.ChannelWithSubscriptions() {
		switch msg := m.(type) {
		case *redis.Subscription:
			if msg.Kind == "subscribe" {
				r.log.Warn("events: resubscribed to Redis after a lost connection; resetting caches")
				r.deliver(Event{Kind: Reset})
			}
		case *redis.Message:
			var e Event
			if err := json.Unmarshal([]byte(msg.Payload), &e); err != nil {
				r.log.Warn("events: malformed message", "err", err)
				continue
			}
			r.deliver(e)
		}
	}
}

// deliver hands e to the local subscribers. A subscriber that panics (a bug)
// is logged; the loop goes on, so this replica keeps hearing of changes, and
// the process does not go down with its queued usage rows.
func (r *Redis) deliver(e Event) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("events: a subscriber panicked", "kind", e.Kind, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	_ = r.local.Publish(context.Background(), e)
}

// Publish sends e to every replica.
func (r *Redis) Publish(ctx context.Context, e Event) error {
	b, _ := json.Marshal(e)
	return r.client.Publish(ctx, r.channel, b).Err()
}

// Subscribe adds a local subscriber.
func (r *Redis) Subscribe(fn func(Event)) func() { return r.local.Subscribe(fn) }

// Close stops the subscription.
func (r *Redis) Close() error {
	var err error
	r.once.Do(func() {
		err = r.sub.Close()
		<-r.done
	})
	return err
}
