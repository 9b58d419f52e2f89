// Package events carries invalidation and control messages between replicas:
// in-process in embedded mode, Redis pub/sub in production mode.
package events

import (
	"context"
	"sync"
)

// Kinds of events.
const (
	KeyChanged    = "key"    // ID: the key's SHA-256 hex
	UserChanged   = "user"   // ID: the user's oid
	ConfigChanged = "config" // models or endpoints changed; ID: model name or ""
	AppChanged    = "app"    // ID: app id
	// Reset asks every replica to drop all cached state (e.g. after a restore).
	Reset = "reset"
	// KillSwitchChanged: a kill switch was set or lifted; ID: its id.
	KillSwitchChanged = "killswitch"
	// BudgetChanged: ID "scope:target" (a limit changed) or "rebuild:<counter key>".
	BudgetChanged = "budget"
)

// Event is one message.
type Event struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Bus publishes events to every replica, including the publishing one.
type Bus interface {
	Publish(ctx context.Context, e Event) error
	// Subscribe registers fn for every event; it returns a function that removes it.
	// fn runs on the bus's goroutine and must not block.
	Subscribe(fn func(Event)) (cancel func())
	Close() error
}

// Local is the in-process bus of embedded mode. It is also the fan-out used by the
// Redis bus once a message arrives.
type Local struct {
	mu   sync.RWMutex
	next int
	subs map[int]func(Event)
}

// NewLocal returns an empty in-process bus.
func NewLocal() *Local { return &Local{subs: map[int]func(Event){}} }

// Publish delivers e synchronously to every subscriber.
func (l *Local) Publish(_ context.Context, e Event) error {
	l.mu.RLock()
	fns := make([]func(Event), 0, len(l.subs))
	for _, fn := range l.subs {
		fns = append(fns, fn)
	}
	l.mu.RUnlock()
	for _, fn := range fns {
		fn(e)
	}
	return nil
}

// Subscribe adds fn.
func (l *Local) Subscribe(fn func(Event)) func() {
	l.mu.Lock()
	id := l.next
	l.next++
	l.subs[id] = fn
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.subs, id)
		l.mu.Unlock()
	}
}

// Close does nothing.
func (l *Local) Close() error { return nil }
