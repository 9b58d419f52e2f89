package delegation

import (
	"context"
	"errors"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// Directory looks up the users and apps a delegation names. It is on the hot
// path of every delegated request, so the production implementation caches.
// Both methods return store.ErrNotFound (possibly wrapped) for a missing row.
type Directory interface {
	User(ctx context.Context, oid string) (store.User, error)
	App(ctx context.Context, appID string) (store.App, error)
}

// Source is the part of the store the cached directory reads.
type Source interface {
	GetUser(ctx context.Context, oid string) (store.User, error)
	GetApp(ctx context.Context, appID string) (store.App, error)
}

// CacheOptions configure a CachedDirectory.
type CacheOptions struct {
	// TTL bounds how long a found row is used without an invalidation event
	// (default 30s).
	TTL time.Duration
	// NegativeTTL bounds how long "not found" is remembered (default 5s), so a
	// row created on another replica is seen soon even if its event is lost.
	NegativeTTL time.Duration
	// MaxEntries bounds each of the two caches (default 100 000).
	MaxEntries int
}

// lookup is a cached answer: the row, or that there is none.
type lookup[T any] struct {
	row   T
	found bool
}

// CachedDirectory is a Directory over the store with an otter cache per table.
// Hits never touch the database; concurrent misses for one id share one load;
// a failed load is not cached. Entries are dropped on events.UserChanged /
// events.AppChanged for their id and on events.Reset.
type CachedDirectory struct {
	users       *otter.Cache[string, lookup[store.User]]
	apps        *otter.Cache[string, lookup[store.App]]
	loadUser    otter.Loader[string, lookup[store.User]]
	loadApp     otter.Loader[string, lookup[store.App]]
	unsubscribe func()
}

// NewCachedDirectory returns a cached directory subscribed to bus (which may be
// nil: entries then live until their TTL).
func NewCachedDirectory(src Source, bus events.Bus, o CacheOptions) (*CachedDirectory, error) {
	if o.TTL <= 0 {
		o.TTL = 30 * time.Second
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = 5 * time.Second
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 100_000
	}
	users, err := newLookupCache[store.User](o)
	if err != nil {
		return nil, err
	}
	apps, err := newLookupCache[store.App](o)
	if err != nil {
		return nil, err
	}
	d := &CachedDirectory{
		users: users, apps: apps,
		loadUser: loader(src.GetUser), loadApp: loader(src.GetApp),
		unsubscribe: func() {},
	}
	if bus != nil {
		d.unsubscribe = bus.Subscribe(d.onEvent)
	}
	return d, nil
}

func newLookupCache[T any](o CacheOptions) (*otter.Cache[string, lookup[T]], error) {
	return otter.New(&otter.Options[string, lookup[T]]{
		MaximumSize: o.MaxEntries,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, lookup[T]]) time.Duration {
			if e.Value.found {
				return o.TTL
			}
			return o.NegativeTTL
		}),
	})
}

func (d *CachedDirectory) onEvent(e events.Event) {
	switch e.Kind {
	case events.UserChanged:
		d.users.Invalidate(e.ID)
	case events.AppChanged:
		d.apps.Invalidate(e.ID)
	case events.Reset:
		d.InvalidateAll()
	}
}

// InvalidateAll drops every cached answer (e.g. after the event stream may have
// missed messages).
func (d *CachedDirectory) InvalidateAll() {
	d.users.InvalidateAll()
	d.apps.InvalidateAll()
}

// Close stops listening to the bus.
func (d *CachedDirectory) Close() { d.unsubscribe() }

// User returns the user with that oid, deleted ones included (DeletedAt set).
func (d *CachedDirectory) User(ctx context.Context, oid string) (store.User, error) {
	return get(ctx, d.users, oid, d.loadUser)
}

// App returns the app with that id.
func (d *CachedDirectory) App(ctx context.Context, appID string) (store.App, error) {
	return get(ctx, d.apps, appID, d.loadApp)
}

// loader adapts a store getter: "not found" is an answer worth caching, any
// other error is not.
func loader[T any](load func(context.Context, string) (T, error)) otter.Loader[string, lookup[T]] {
	return otter.LoaderFunc[string, lookup[T]](func(ctx context.Context, id string) (lookup[T], error) {
		row, err := load(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return lookup[T]{}, nil
		}
		if err != nil {
			return lookup[T]{}, err
		}
		return lookup[T]{row: row, found: true}, nil
	})
}

func get[T any](ctx context.Context, c *otter.Cache[string, lookup[T]], id string,
	l otter.Loader[string, lookup[T]]) (T, error) {
	v, err := c.Get(ctx, id, l)
	if err != nil {
		var zero T
		return zero, err
	}
	if !v.found {
		return v.row, store.ErrNotFound
	}
	return v.row, nil
}
