package budget

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// Limits caches every explicit budget so the hot path reads limits without a
// database round trip. It reloads one budget on events.BudgetChanged
// ("scope:target"), everything on events.Reset, and everything every refresh
// interval of Run (a safety net for missed events).
type Limits struct {
	st          store.Budgets
	defaultUser money.Nanos // < 0: none
	log         *slog.Logger

	mu    sync.RWMutex
	m     map[ref]money.Nanos
	unsub func()
}

// NewLimits loads every budget from st and subscribes to bus (which may be
// nil). defaultUser < 0 means users without a budget of their own have none.
func NewLimits(ctx context.Context, st store.Budgets, bus events.Bus, defaultUser money.Nanos, log *slog.Logger) (*Limits, error) {
	if log == nil {
		log = slog.Default()
	}
	l := &Limits{st: st, defaultUser: defaultUser, log: log, m: map[ref]money.Nanos{}}
	if err := l.ReloadAll(ctx); err != nil {
		return nil, err
	}
	if bus != nil {
		l.unsub = bus.Subscribe(l.onEvent)
	}
	return l, nil
}

// Close stops listening to events.
func (l *Limits) Close() {
	if l.unsub != nil {
		l.unsub()
	}
}

// ParseDefault converts GATEWAY_DEFAULT_USER_BUDGET_USD ("" : none) for NewLimits.
func ParseDefault(usd string) (money.Nanos, error) {
	if strings.TrimSpace(usd) == "" {
		return -1, nil
	}
	return money.ParseUSDNanos(usd)
}

func (l *Limits) onEvent(e events.Event) {
	switch e.Kind {
	case events.BudgetChanged:
		scope, target, ok := strings.Cut(e.ID, ":")
		if !ok || !store.BudgetScope(scope).Valid() {
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := l.Reload(ctx, store.BudgetScope(scope), target); err != nil {
				l.log.Warn("budget: reloading a limit failed", "budget", e.ID, "err", err)
			}
		}()
	case events.Reset:
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := l.ReloadAll(ctx); err != nil {
				l.log.Warn("budget: reloading limits failed", "err", err)
			}
		}()
	}
}

// ReloadAll replaces the cache with the store's budgets.
func (l *Limits) ReloadAll(ctx context.Context) error {
	all, err := l.st.ListBudgets(ctx)
	if err != nil {
		return err
	}
	m := make(map[ref]money.Nanos, len(all))
	for _, b := range all {
		m[ref{b.Scope, b.Target}] = b.Monthly
	}
	l.mu.Lock()
	l.m = m
	l.mu.Unlock()
	return nil
}

// Reload refreshes one budget from the store.
func (l *Limits) Reload(ctx context.Context, scope store.BudgetScope, target string) error {
	b, err := l.st.GetBudget(ctx, scope, target)
	if err != nil && !isNotFound(err) {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		delete(l.m, ref{scope, target})
	} else {
		l.m[ref{scope, target}] = b.Monthly
	}
	return nil
}

// Run reloads everything every interval until ctx ends.
func (l *Limits) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.ReloadAll(ctx); err != nil && ctx.Err() == nil {
				l.log.Warn("budget: reloading limits failed", "err", err)
			}
		}
	}
}

// Limit returns the limit of one budget: the explicit one, else the default
// for users. ok is false when the subject has no budget.
func (l *Limits) Limit(scope store.BudgetScope, target string) (limit money.Nanos, explicit, ok bool) {
	l.mu.RLock()
	v, found := l.m[ref{scope, target}]
	l.mu.RUnlock()
	switch {
	case found:
		return v, true, true
	case scope == store.BudgetUser && l.defaultUser >= 0:
		return l.defaultUser, false, true
	}
	return 0, false, false
}

// Default returns the budget of users without their own, if one is set.
func (l *Limits) Default(scope store.BudgetScope) (money.Nanos, bool) {
	if scope != store.BudgetUser || l.defaultUser < 0 {
		return 0, false
	}
	return l.defaultUser, true
}

// For returns the budgets that apply to subj, user first, then app, then key.
func (l *Limits) For(subj Subject) []applied {
	var out []applied
	add := func(scope store.BudgetScope, target string) {
		if lim, _, ok := l.Limit(scope, target); ok {
			out = append(out, applied{ref{scope, target}, clamp(lim)})
		}
	}
	if subj.UserOID != "" {
		add(store.BudgetUser, subj.UserOID)
	}
	if subj.AppID != "" {
		add(store.BudgetApp, subj.AppID)
	}
	if subj.KeyID != 0 {
		add(store.BudgetKey, strconv.FormatInt(subj.KeyID, 10))
	}
	return out
}
