// Package gateway assembles one gateway instance from its configuration: the
// store, the cache and event bus, the key authenticator, the model registry, the
// usage recorder, the built-in fake provider and the HTTP handler. cmd/gateway
// runs one; tests run several side by side.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/admin"
	"github.com/antigravity/gateway/internal/adminui"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/billing"
	"github.com/antigravity/gateway/internal/budget"
	"github.com/antigravity/gateway/internal/config"
	"github.com/antigravity/gateway/internal/delegation"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/fakeprovider"
	"github.com/antigravity/gateway/internal/killswitch"
	"github.com/antigravity/gateway/internal/metrics"
	"github.com/antigravity/gateway/internal/proxy"
	"github.com/antigravity/gateway/internal/secrets"
	"github.com/antigravity/gateway/internal/server"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/postgres"
	"github.com/antigravity/gateway/internal/store/sqlite"
	"github.com/antigravity/gateway/internal/tokens"
	"github.com/antigravity/gateway/internal/upstream"
	"github.com/antigravity/gateway/internal/usage"
)

// Gateway is one running instance.
type Gateway struct {
	Config   *config.Config
	Handler  http.Handler
	Store    store.Store
	Redis    *redis.Client // nil in embedded mode
	Bus      events.Bus
	Auth     *auth.Authenticator
	Registry *upstream.Registry
	Recorder *usage.Recorder
	Metrics  *metrics.Metrics
	// GeneratedAdminKey is the admin key created at this start, if one was
	// (shown once); empty otherwise.
	GeneratedAdminKey string
	// Budget reserves and settles budgets; Kill blocks subjects.
	Budget *budget.Instance
	Kill   *killswitch.Registry

	log      *slog.Logger
	now      func() time.Time
	fake     *http.Server
	fakeURL  string
	cancelBG context.CancelFunc
	bg       sync.WaitGroup
	handlers sync.WaitGroup // requests being served, so Close writes their usage
	closeMu  sync.Mutex
	closed   bool
}

// Options are what a Gateway needs besides its configuration.
type Options struct {
	Log *slog.Logger
	// AccessLog is the writer under Log's JSON handler, if the access log may
	// be written there directly (server.Deps.AccessLog).
	AccessLog io.Writer
	Now       func() time.Time
}

// New opens everything the configuration names and returns a ready instance.
// Background loops (usage writer, configuration refresh, partition upkeep) run
// until Close.
func New(ctx context.Context, cfg *config.Config, o Options) (g *Gateway, err error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	g = &Gateway{Config: cfg, log: o.Log, now: o.Now, Metrics: metrics.New()}
	defer func() {
		if err != nil {
			g.closeResources()
		}
	}()

	if err := g.openStore(ctx); err != nil {
		return nil, err
	}
	box, err := g.encryptionBox()
	if err != nil {
		return nil, err
	}
	if err := g.openBus(ctx); err != nil {
		return nil, err
	}
	if g.Auth, err = auth.New(g.Store, g.Bus, auth.Options{TTL: cfg.KeyCacheTTL, Now: o.Now, Log: o.Log}); err != nil {
		return nil, err
	}
	if err := g.startFakeProvider(); err != nil {
		return nil, err
	}
	if g.Registry, err = upstream.NewRegistry(g.Store, box, g.fakeURL, o.Log); err != nil {
		return nil, err
	}
	if err := g.bootstrap(ctx, box); err != nil {
		return nil, err
	}
	if err := g.Registry.Reload(ctx); err != nil {
		return nil, err
	}
	if err := g.openBudgets(ctx); err != nil {
		return nil, fmt.Errorf("budgets: %w", err)
	}
	g.Metrics.Registry.MustRegister(upstream.NewCollector(func() []*upstream.Endpoint {
		return upstream.AllEndpoints(g.Registry.Snapshot())
	}, o.Now))
	g.Recorder = usage.NewRecorder(g.Store, usage.RecorderOptions{
		BatchSize:     cfg.UsageBatchSize,
		FlushInterval: cfg.UsageFlushInterval,
		Log:           o.Log,
		OnFlush: func(n int, err error) {
			if err != nil {
				g.Metrics.UsageFlushes.WithLabelValues("error").Inc()
				return
			}
			g.Metrics.UsageFlushes.WithLabelValues("ok").Inc()
			g.Metrics.UsageRows.Add(float64(n))
		},
	})
	g.Metrics.WatchUsagePending(g.Recorder.Pending)

	dir, err := delegation.NewCachedDirectory(g.Store, g.Bus, delegation.CacheOptions{})
	if err != nil {
		return nil, err
	}
	api := proxy.New(proxy.Deps{
		Auth:            g.Auth,
		Delegation:      delegation.NewResolver(dir, cfg.SharedSecret),
		Pools:           g.Registry,
		Router:          g.newRouter(),
		Client:          newUpstreamClient(cfg),
		Usage:           g.Recorder,
		Budget:          g.Budget,
		Kill:            g.Kill,
		Tokens:          tokens.NewCounter(),
		Metrics:         g.Metrics,
		Now:             o.Now,
		Log:             o.Log,
		MaxBodyBytes:    cfg.MaxBodyBytes,
		UpstreamTimeout: cfg.UpstreamTimeout,
		Pending:         &g.handlers, // Close waits for settles and usage rows queued after a response
	})
	adm := admin.New(admin.Deps{Store: g.Store, Auth: g.Auth, Box: box, Bus: g.Bus, Now: o.Now, Log: o.Log, Budgets: g.Budget, Health: g.Registry})
	// The admin web UI and the billing API it reads; ui.Wrap turns its session
	// cookie into the bearer key the JSON APIs expect.
	ui, err := adminui.New(adminui.Deps{Auth: g.Auth, Box: box, Now: o.Now, Log: o.Log})
	if err != nil {
		return nil, err
	}
	bill := billing.New(billing.Deps{Store: g.Store, Auth: g.Auth, Now: o.Now, Log: o.Log})
	root := ui.Wrap(server.New(server.Deps{
		API: api, Admin: adm, Extra: []server.Registrar{bill, ui}, Metrics: g.Metrics, Log: o.Log, AccessLog: o.AccessLog, Now: o.Now,
		Ready: g.readyChecks(),
	}))
	g.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.handlers.Add(1)
		defer g.handlers.Done()
		root.ServeHTTP(w, r)
	})
	g.startBackground()
	return g, nil
}

func (g *Gateway) openStore(ctx context.Context) error {
	loc, err := time.LoadLocation(g.Config.BillingTZ)
	if err != nil {
		return err
	}
	if g.Config.Mode() == config.Production {
		g.Store, err = postgres.Open(ctx, g.Config.DatabaseURL, postgres.WithBillingLocation(loc))
		if err != nil {
			return fmt.Errorf("opening PostgreSQL: %w", err)
		}
	} else {
		if err := os.MkdirAll(g.Config.DataDir, 0o700); err != nil {
			return fmt.Errorf("creating the data directory: %w", err)
		}
		g.Store, err = sqlite.Open(ctx, filepath.Join(g.Config.DataDir, "gateway.db"), sqlite.WithBillingLocation(loc))
		if err != nil {
			return fmt.Errorf("opening SQLite: %w", err)
		}
	}
	return nil
}

func (g *Gateway) openBus(ctx context.Context) error {
	if g.Config.RedisURL == "" {
		g.Bus = events.NewLocal()
		return nil
	}
	opt, err := redis.ParseURL(g.Config.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	g.Redis = redis.NewClient(opt)
	if err := g.Redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("connecting to Redis: %w", err)
	}
	bus, err := events.NewRedis(ctx, g.Redis, g.Config.RedisPrefix+":events", g.log)
	if err != nil {
		return fmt.Errorf("subscribing to Redis: %w", err)
	}
	g.Bus = bus
	return nil
}

// encryptionBox returns the credential box. In embedded mode without a
// configured key, one is generated once and kept in the data directory.
func (g *Gateway) encryptionBox() (*secrets.Box, error) {
	key := g.Config.EncryptionKey
	if key == "" {
		path := filepath.Join(g.Config.DataDir, "encryption.key")
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			key = string(b)
		case errors.Is(err, os.ErrNotExist):
			_, key, _, err = auth.NewKey() // 256 random bits, printable
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, []byte(key), 0o600); err != nil {
				return nil, fmt.Errorf("writing %s: %w", path, err)
			}
		default:
			return nil, err
		}
	}
	return secrets.NewBox(key)
}

// startFakeProvider serves the built-in fake provider on a loopback port; the
// demo model's endpoint (provider "fake") points at it.
func (g *Gateway) startFakeProvider() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("starting the built-in fake provider: %w", err)
	}
	g.fake = &http.Server{Handler: fakeprovider.New(fakeprovider.Options{TokenLatency: 10 * time.Millisecond, RecordLimit: -1}), ReadHeaderTimeout: 10 * time.Second}
	g.fakeURL = "http://" + ln.Addr().String() + "/v1"
	go func() { _ = g.fake.Serve(ln) }()
	return nil
}

func (g *Gateway) readyChecks() map[string]server.Checker {
	checks := map[string]server.Checker{"database": g.Store.Ping}
	if g.Redis != nil {
		checks["redis"] = func(ctx context.Context) error { return g.Redis.Ping(ctx).Err() }
	}
	return checks
}

func (g *Gateway) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	g.cancelBG = cancel
	refresh := g.Config.ConfigRefresh
	loops := []struct {
		name string
		run  func(context.Context)
	}{
		{"budget_limits", func(ctx context.Context) { g.Budget.Limits.Run(ctx, refresh) }},
		{"budget_reconcile", g.Budget.RunReconcile},
		{"models", func(ctx context.Context) { g.Registry.Run(ctx, g.Bus, refresh) }},
		{"kill_switches", func(ctx context.Context) { g.Kill.Run(ctx, refresh) }},
		{"usage_retention", func(ctx context.Context) {
			billing.RunRetention(ctx, g.Store, g.Config.UsageRetentionMonths, g.now)
		}},
		{"key_last_used", func(ctx context.Context) { g.Auth.RunLastUsedFlusher(ctx, 10*time.Second) }},
		{"usage_partitions", g.keepPartitions},
	}
	g.bg.Add(len(loops))
	for _, l := range loops {
		go func() { defer g.bg.Done(); g.supervise(ctx, l.name, l.run) }()
	}
	// The recorder has its own lifecycle: it stops in Close, after the server
	// has drained, so rows of the last requests are still written.
	go g.Recorder.Run(context.Background())
}

// keepPartitions makes sure this and next month's usage partitions exist, at
// start and daily.
func (g *Gateway) keepPartitions(ctx context.Context) {
	for {
		now := g.now().UTC()
		if err := g.Store.EnsureUsagePartitions(ctx, now, now.AddDate(0, 1, 0)); err != nil && ctx.Err() == nil {
			g.log.Warn("ensuring usage partitions failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(24 * time.Hour):
		}
	}
}

// Close stops the background loops, writes every pending usage row (retrying
// until ctx ends) and closes the connections. Call it after the HTTP server has
// drained.
func (g *Gateway) Close(ctx context.Context) error {
	g.closeMu.Lock()
	defer g.closeMu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	if g.cancelBG != nil {
		g.cancelBG()
		g.bg.Wait()
	}
	var errs []error
	served := make(chan struct{})
	go func() { g.handlers.Wait(); close(served) }()
	select {
	case <-served:
	case <-ctx.Done():
		errs = append(errs, errors.New("requests still running at close"))
	}
	if g.Recorder != nil {
		if err := g.Recorder.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	g.closeResources()
	return errors.Join(errs...)
}

func (g *Gateway) closeResources() {
	if g.Kill != nil {
		g.Kill.Close()
	}
	if g.Budget != nil {
		g.Budget.Close()
	}
	if g.fake != nil {
		_ = g.fake.Close()
	}
	if g.Bus != nil {
		_ = g.Bus.Close()
	}
	if g.Redis != nil {
		_ = g.Redis.Close()
	}
	if g.Store != nil {
		_ = g.Store.Close()
	}
}

// newUpstreamClient returns the HTTP client for provider calls: many idle
// connections per host, no transparent compression (SSE is relayed as is).
func newUpstreamClient(cfg *config.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 2048
	tr.MaxIdleConnsPerHost = 1024
	tr.IdleConnTimeout = 90 * time.Second
	tr.ResponseHeaderTimeout = cfg.UpstreamHeaderTimeout
	tr.DisableCompression = true
	return &http.Client{Transport: tr}
}

// newRouter builds the endpoint router: limits shared through Redis in
// production mode, in-process otherwise.
func (g *Gateway) newRouter() *upstream.Router {
	var lim upstream.Limiter = upstream.LocalLimiter{}
	if g.Redis != nil {
		lim = upstream.NewRedisLimiter(g.Redis, g.Config.RedisPrefix)
	}
	return upstream.NewRouter(upstream.RouterOptions{
		Limiter: lim,
		Clock:   g.now,
		OnLimiterError: func(e *upstream.Endpoint, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			g.log.Warn("endpoint limits: Redis failed; counting per replica", "endpoint", e.Label, "err", err)
		},
	})
}
