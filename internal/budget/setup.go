package budget

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// Config assembles the budget side of one gateway instance from the
// gateway's configuration.
type Config struct {
	Store store.Budgets
	Bus   events.Bus
	// Redis selects production mode; nil means embedded mode (Local).
	Redis redis.UniversalClient
	// BillingTZ is GATEWAY_BILLING_TZ ("" : UTC).
	BillingTZ string
	// DefaultUserUSD is GATEWAY_DEFAULT_USER_BUDGET_USD ("" : none).
	DefaultUserUSD string
	// TTL is GATEWAY_RESERVATION_TTL (0: 15m).
	TTL time.Duration
	// FailOpen is GATEWAY_BUDGET_FAIL_OPEN.
	FailOpen bool
	// Leases is GATEWAY_BUDGET_LEASES (production mode only).
	Leases bool
	// Prefix starts every Redis key ("" : "gw:budget:").
	Prefix string
	// Registerer receives the metrics (nil: not registered).
	Registerer prometheus.Registerer
	Log        *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Instance is the budget Service of one gateway instance with its limits
// cache and metrics.
type Instance struct {
	Service
	Limits  *Limits
	Metrics *Metrics
	redis   *Redis
	local   *Local
}

// New builds the Instance: a Redis reserver when c.Redis is set, else a Local
// one. Run Limits.Run (the periodic limits reload) and RunReconcile until
// shutdown, then Close.
func New(ctx context.Context, c Config) (*Instance, error) {
	loc := time.UTC
	if c.BillingTZ != "" {
		l, err := time.LoadLocation(c.BillingTZ)
		if err != nil {
			return nil, fmt.Errorf("budget: GATEWAY_BILLING_TZ: %w", err)
		}
		loc = l
	}
	def, err := ParseDefault(c.DefaultUserUSD)
	if err != nil {
		return nil, fmt.Errorf("budget: GATEWAY_DEFAULT_USER_BUDGET_USD: %w", err)
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	limits, err := NewLimits(ctx, c.Store, c.Bus, def, c.Log)
	if err != nil {
		return nil, fmt.Errorf("budget: loading budgets: %w", err)
	}
	in := &Instance{Limits: limits, Metrics: NewMetrics(c.Registerer)}
	o := Options{Location: loc, TTL: c.TTL, Now: c.Now, Metrics: in.Metrics}
	if c.Redis == nil {
		in.local = NewLocal(limits, c.Store, o, c.Log)
		in.Service = in.local
		return in, nil
	}
	in.redis = NewRedis(c.Redis, limits, c.Store, c.Bus, RedisOptions{Options: o, Prefix: c.Prefix, FailOpen: c.FailOpen, Log: c.Log,
		Leases: LeaseOptions{Enabled: c.Leases}})
	in.Service = in.redis
	return in, nil
}

// RunReconcile reconciles the counters used recently with the database every
// few seconds until ctx ends.
func (in *Instance) RunReconcile(ctx context.Context) {
	t := time.NewTicker(reconcileTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			in.reconcile(ctx, false)
		}
	}
}

func (in *Instance) reconcile(ctx context.Context, all bool) {
	switch {
	case in.redis != nil:
		in.redis.reconcile(ctx, all)
	case in.local != nil:
		in.local.reconcile(ctx, all)
	}
}

// Status reloads the budget's limit from the database before reporting its
// month: the admin API shows a budget after setting it (PUT …/budget), so the
// replica that served the PUT enforces the new limit before answering, without
// waiting for the change event to come back.
func (in *Instance) Status(ctx context.Context, scope store.BudgetScope, target string) (Status, error) {
	if err := in.Limits.Reload(ctx, scope, target); err != nil {
		return Status{}, err
	}
	return in.Service.Status(ctx, scope, target)
}

// Close stops the event subscriptions and the Redis reserver's background loop.
func (in *Instance) Close() {
	in.Limits.Close()
	if in.redis != nil {
		in.redis.Close()
	}
}
