package gateway

import (
	"context"

	"github.com/antigravity/gateway/internal/budget"
	"github.com/antigravity/gateway/internal/killswitch"
)

// openBudgets builds the budget reserver (Redis in production mode, in process
// otherwise) and the kill-switch registry, both kept current by events and a
// periodic reload.
func (g *Gateway) openBudgets(ctx context.Context) error {
	c := budget.Config{
		Store: g.Store, Bus: g.Bus, BillingTZ: g.Config.BillingTZ, DefaultUserUSD: g.Config.DefaultUserBudget,
		TTL: g.Config.ReservationTTL, FailOpen: g.Config.BudgetFailOpen, Leases: g.Config.BudgetLeases, Registerer: g.Metrics.Registry, Log: g.log, Now: g.now,
	}
	if g.Redis != nil {
		c.Redis, c.Prefix = g.Redis, g.Config.RedisPrefix+":budget:"
	}
	var err error
	if g.Budget, err = budget.New(ctx, c); err != nil {
		return err
	}
	if g.Kill, err = killswitch.New(ctx, g.Store, g.Bus, g.log); err != nil {
		return err
	}
	return nil
}
