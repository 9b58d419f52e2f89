package auth

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// Principal is the authenticated caller.
type Principal struct {
	KeyID         int64
	KeyHash       string
	KeyPrefix     string
	UserOID       string
	Email         string
	Role          store.Role
	AllowedModels []string // empty: every model
}

// IsAdmin reports whether the key belongs to an admin user.
func (p *Principal) IsAdmin() bool { return p.Role == store.RoleAdmin }

// MayUse reports whether the key may call model.
func (p *Principal) MayUse(model string) bool {
	return len(p.AllowedModels) == 0 || slices.Contains(p.AllowedModels, model)
}

// entry is a cached lookup result: a principal, or the reason the key is refused.
type entry struct {
	principal *Principal
	expiresAt *time.Time
	refusal   string // non-empty: the key is refused with this message
	userOID   string // the key's owner, when known (to drop entries on UserChanged)
}

// Authenticator verifies keys. Hits never touch the database; misses load from
// the store once (concurrent misses for one key share the load).
type Authenticator struct {
	keys  store.Keys
	cache *otter.Cache[string, entry]
	now   func() time.Time
	log   *slog.Logger

	mu   sync.Mutex
	used map[int64]time.Time
}

// Options configure an Authenticator.
type Options struct {
	// TTL bounds how long a cached verdict lives without an invalidation event.
	TTL time.Duration
	// MaxKeys bounds the cache size.
	MaxKeys int
	Now     func() time.Time
	Log     *slog.Logger
}

// New returns an Authenticator subscribed to bus for invalidations.
func New(keys store.Keys, bus events.Bus, o Options) (*Authenticator, error) {
	if o.TTL <= 0 {
		o.TTL = 30 * time.Second
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 100_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	c, err := otter.New(&otter.Options[string, entry]{
		MaximumSize:      o.MaxKeys,
		ExpiryCalculator: otter.ExpiryWriting[string, entry](o.TTL),
	})
	if err != nil {
		return nil, err
	}
	a := &Authenticator{keys: keys, cache: c, now: o.Now, log: o.Log, used: map[int64]time.Time{}}
	if bus != nil {
		bus.Subscribe(a.onEvent)
	}
	return a, nil
}

func (a *Authenticator) onEvent(e events.Event) {
	switch e.Kind {
	case events.KeyChanged:
		a.cache.Invalidate(e.ID)
	case events.UserChanged:
		for hash, en := range a.cache.All() {
			if en.userOID == e.ID {
				a.cache.Invalidate(hash)
			}
		}
	case events.Reset:
		a.cache.InvalidateAll()
	}
}

// InvalidateAll drops every cached verdict (used when the event stream may have
// missed messages, e.g. after a Redis reconnect).
func (a *Authenticator) InvalidateAll() { a.cache.InvalidateAll() }

// Authenticate verifies a presented key.
func (a *Authenticator) Authenticate(ctx context.Context, key string) (*Principal, error) {
	if key == "" {
		return nil, apierror.InvalidAPIKey("Missing API key. Send it as 'Authorization: Bearer sk-gate-…'.")
	}
	if len(key) > 256 {
		return nil, apierror.InvalidAPIKey("Incorrect API key provided.")
	}
	hash := HashKey(key)
	en, err := a.cache.Get(ctx, hash, otter.LoaderFunc[string, entry](a.load))
	if err != nil {
		return nil, apierror.Unavailable("auth_unavailable", "The gateway cannot verify API keys right now; retry shortly.")
	}
	if en.refusal != "" {
		return nil, apierror.InvalidAPIKey(en.refusal)
	}
	if en.expiresAt != nil && !a.now().Before(*en.expiresAt) {
		return nil, apierror.InvalidAPIKey("The API key has expired.")
	}
	a.mu.Lock()
	a.used[en.principal.KeyID] = a.now()
	a.mu.Unlock()
	return en.principal, nil
}

func (a *Authenticator) load(ctx context.Context, hash string) (entry, error) {
	ko, err := a.keys.KeyByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return entry{refusal: "Incorrect API key provided."}, nil
	}
	if err != nil {
		a.log.Error("auth: key lookup failed", "err", err)
		return entry{}, err
	}
	switch {
	case !ko.Key.Active:
		return entry{refusal: "The API key has been revoked.", userOID: ko.User.OID}, nil
	case !ko.User.Active || ko.User.DeletedAt != nil:
		return entry{refusal: "The API key's user is disabled.", userOID: ko.User.OID}, nil
	}
	return entry{
		userOID:   ko.User.OID,
		expiresAt: ko.Key.ExpiresAt,
		principal: &Principal{
			KeyID:         ko.Key.ID,
			KeyHash:       hash,
			KeyPrefix:     ko.Key.Prefix,
			UserOID:       ko.User.OID,
			Email:         ko.User.Email,
			Role:          ko.User.Role,
			AllowedModels: ko.Key.AllowedModels,
		},
	}, nil
}

// FlushLastUsed writes the keys' last-used times gathered since the last flush.
func (a *Authenticator) FlushLastUsed(ctx context.Context) error {
	a.mu.Lock()
	used := a.used
	a.used = map[int64]time.Time{}
	a.mu.Unlock()
	if len(used) == 0 {
		return nil
	}
	if err := a.keys.TouchKeys(ctx, used); err != nil {
		a.mu.Lock()
		for id, t := range used {
			if cur, ok := a.used[id]; !ok || cur.Before(t) {
				a.used[id] = t
			}
		}
		a.mu.Unlock()
		return err
	}
	return nil
}

// RunLastUsedFlusher flushes last-used times every interval until ctx ends, then
// once more.
func (a *Authenticator) RunLastUsedFlusher(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = a.FlushLastUsed(fctx)
			cancel()
			return
		case <-t.C:
			if err := a.FlushLastUsed(ctx); err != nil {
				a.log.Warn("auth: flushing last-used times failed", "err", err)
			}
		}
	}
}
