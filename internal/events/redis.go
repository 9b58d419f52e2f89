package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Channel is the Redis pub/sub channel all replicas share.
const Channel = "gateway:events"

// Redis is the bus of production mode: Publish goes through Redis, and every
// replica (this one too) delivers what arrives to its local subscribers.
type Redis struct {
	client *redis.Client
	local  *Local
	log    *slog.Logger
	sub    *redis.PubSub
	done   chan struct{}
	once   sync.Once
	// ready is closed once the subscription is confirmed by Redis.
	ready chan struct{}
}

// NewRedis subscribes to the channel and starts delivering.
func NewRedis(ctx context.Context, client *redis.Client, log *slog.Logger) (*Redis, error) {
	r := &Redis{client: client, local: NewLocal(), log: log, done: make(chan struct{}), ready: make(chan struct{})}
	r.sub = client.Subscribe(ctx, Channel)
	if _, err := r.sub.Receive(ctx); err != nil { // wait for the subscription confirmation
		_ = r.sub.Close()
		return nil, err
	}
	close(r.ready)
	go r.loop()
	return r, nil
}

func (r *Redis) loop() {
	defer close(r.done)
	ch := r.sub.Channel()
	for msg := range ch {
		var e Event
		if err := json.Unmarshal([]byte(msg.Payload), &e); err != nil {
			r.log.Warn("events: malformed message", "err", err)
			continue
		}
		_ = r.local.Publish(context.Background(), e)
	}
}

// Publish sends e to every replica.
func (r *Redis) Publish(ctx context.Context, e Event) error {
	b, _ := json.Marshal(e)
	return r.client.Publish(ctx, Channel, b).Err()
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
