package upstream

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/secrets"
	"github.com/antigravity/gateway/internal/store"
)

// Source is what the registry loads from.
type Source interface {
	ListModels(ctx context.Context) ([]store.Model, error)
	ListEndpoints(ctx context.Context, model string) ([]store.Endpoint, error)
}

// Snapshot is an immutable view of every model and its pool.
type Snapshot struct {
	Models map[string]*Pool // every model, active or not; Pool.Endpoints active only
	Names  []string         // sorted model names
}

// Registry keeps the current Snapshot in memory and reloads it when the
// configuration changes (events) or periodically (backstop).
type Registry struct {
	src     Source
	box     *secrets.Box
	fakeURL *url.URL
	log     *slog.Logger

	cur       atomic.Pointer[Snapshot]
	mu        sync.Mutex // serialises reloads
	endpoints map[int64]*Endpoint
	dirty     chan struct{}
}

// NewRegistry returns a registry; call Reload once before serving. fakeURL is the
// base URL of the in-process fake provider (for endpoints of provider "fake").
func NewRegistry(src Source, box *secrets.Box, fakeURL string, log *slog.Logger) (*Registry, error) {
	var fu *url.URL
	if fakeURL != "" {
		var err error
		if fu, err = url.Parse(fakeURL); err != nil {
			return nil, err
		}
	}
	r := &Registry{src: src, box: box, fakeURL: fu, log: log, endpoints: map[int64]*Endpoint{}, dirty: make(chan struct{}, 1)}
	r.cur.Store(&Snapshot{Models: map[string]*Pool{}})
	return r, nil
}

// Snapshot returns the current configuration.
func (r *Registry) Snapshot() *Snapshot { return r.cur.Load() }

// Pool returns the pool of a model, or nil.
func (r *Registry) Pool(model string) *Pool { return r.cur.Load().Models[model] }

// Reload reads every model and endpoint and swaps the snapshot.
func (r *Registry) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	models, err := r.src.ListModels(ctx)
	if err != nil {
		return fmt.Errorf("registry: listing models: %w", err)
	}
	eps, err := r.src.ListEndpoints(ctx, "")
	if err != nil {
		return fmt.Errorf("registry: listing endpoints: %w", err)
	}
	snap := &Snapshot{Models: make(map[string]*Pool, len(models))}
	for _, m := range models {
		snap.Models[m.Name] = &Pool{Model: m}
		snap.Names = append(snap.Names, m.Name)
	}
	sort.Strings(snap.Names)
	seen := map[int64]*Endpoint{}
	for _, cfg := range eps {
		p := snap.Models[cfg.Model]
		if p == nil || !cfg.Active {
			continue
		}
		e, err := r.endpoint(cfg)
		if err != nil {
			r.log.Error("registry: endpoint skipped", "endpoint", cfg.ID, "err", err)
			continue
		}
		seen[cfg.ID] = e
		p.Endpoints = append(p.Endpoints, e)
	}
	for _, p := range snap.Models {
		sort.SliceStable(p.Endpoints, func(i, j int) bool {
			a, b := p.Endpoints[i].Config, p.Endpoints[j].Config
			if a.Priority != b.Priority {
				return a.Priority < b.Priority
			}
			return a.ID < b.ID
		})
	}
	r.endpoints = seen
	r.cur.Store(snap)
	return nil
}

// endpoint builds the runtime Endpoint for cfg, keeping the counters of the
// previous one with the same id.
func (r *Registry) endpoint(cfg store.Endpoint) (*Endpoint, error) {
	cred, err := r.box.Open(cfg.Credential)
	if err != nil {
		return nil, err
	}
	var base *url.URL
	if cfg.Provider == store.ProviderFake {
		if r.fakeURL == nil {
			return nil, fmt.Errorf("the built-in fake provider is not running")
		}
		base = r.fakeURL
	} else if base, err = url.Parse(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("bad base_url: %w", err)
	}
	e := NewEndpoint(cfg, cred, base)
	if old := r.endpoints[cfg.ID]; old != nil {
		// Same identity: share the runtime state. Endpoints are replaced, not
		// mutated, so readers of the old snapshot stay consistent.
		e.state = old.state
	}
	e.Health().SetDraining(cfg.Draining)
	return e, nil
}

// Run reloads on configuration events and every interval until ctx ends.
func (r *Registry) Run(ctx context.Context, bus events.Bus, interval time.Duration) {
	if bus != nil {
		cancel := bus.Subscribe(func(e events.Event) {
			if e.Kind == events.ConfigChanged || e.Kind == events.Reset {
				select {
				case r.dirty <- struct{}{}:
				default:
				}
			}
		})
		defer cancel()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.dirty:
		case <-t.C:
		}
		if err := r.Reload(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("registry: reload failed; keeping the previous configuration", "err", err)
		}
	}
}

// EndpointHealth returns the live health of an active endpoint on this replica.
func (r *Registry) EndpointHealth(id int64) (HealthInfo, bool) {
	for _, p := range r.cur.Load().Models {
		for _, e := range p.Endpoints {
			if e.ID() == id {
				return e.HealthInfo(time.Now()), true
			}
		}
	}
	return HealthInfo{}, false
}
