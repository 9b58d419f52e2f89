package store

import (
	"context"
	"time"

	"github.com/antigravity/gateway/internal/money"
)

// BudgetScope is what a monthly budget applies to.
type BudgetScope string

// Budget scopes. The target of a key budget is the key id in decimal.
const (
	BudgetUser BudgetScope = "user"
	BudgetApp  BudgetScope = "app"
	BudgetKey  BudgetScope = "key"
)

// Valid reports whether s is a known scope.
func (s BudgetScope) Valid() bool { return s == BudgetUser || s == BudgetApp || s == BudgetKey }

// Budget is an explicit monthly spending limit of a user, an app or a key.
type Budget struct {
	Scope     BudgetScope `json:"scope"`
	Target    string      `json:"target"`
	Monthly   money.Nanos `json:"monthly_nanos"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// Budgets stores monthly budgets. Spending itself is not stored here: it is
// the sum of the UsageLogs costs.
type Budgets interface {
	// SetBudget creates or replaces the budget of (Scope, Target). UpdatedAt is
	// assigned when zero. A negative Monthly or an unknown scope fails.
	SetBudget(ctx context.Context, b Budget) (Budget, error)
	// GetBudget returns ErrNotFound when the subject has no explicit budget.
	GetBudget(ctx context.Context, scope BudgetScope, target string) (Budget, error)
	// DeleteBudget removes an explicit budget (ErrNotFound if there is none).
	DeleteBudget(ctx context.Context, scope BudgetScope, target string) error
	// ListBudgets returns every explicit budget, by scope then target.
	ListBudgets(ctx context.Context) ([]Budget, error)
	// SumBudgetSpend totals cost_nanos of the usage rows of the subject
	// (user_oid, app_id or key_id) created in [since, until), leaving out the
	// rows whose request id is in exclude. A key target that is not a decimal
	// id sums to zero.
	SumBudgetSpend(ctx context.Context, scope BudgetScope, target string, since, until time.Time, exclude []string) (money.Nanos, error)
}

// KillScope is what a kill switch blocks.
type KillScope string

// Kill switch scopes. Global has an empty target; endpoint and key targets are
// ids in decimal.
const (
	KillGlobal   KillScope = "global"
	KillModel    KillScope = "model"
	KillEndpoint KillScope = "endpoint"
	KillUser     KillScope = "user"
	KillApp      KillScope = "app"
	KillKey      KillScope = "key"
)

// Valid reports whether s is a known scope.
func (s KillScope) Valid() bool {
	switch s {
	case KillGlobal, KillModel, KillEndpoint, KillUser, KillApp, KillKey:
		return true
	}
	return false
}

// KillSwitch blocks every request of its scope and target until it is lifted.
// Lifted switches stay stored for history.
type KillSwitch struct {
	ID        int64      `json:"id"`
	Scope     KillScope  `json:"scope"`
	Target    string     `json:"target"`
	Reason    string     `json:"reason"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	LiftedAt  *time.Time `json:"lifted_at"`
	LiftedBy  string     `json:"lifted_by,omitempty"`
}

// Active reports whether the switch has not been lifted.
func (k KillSwitch) Active() bool { return k.LiftedAt == nil }

// KillSwitches stores kill switches.
type KillSwitches interface {
	// CreateKillSwitch stores an active switch (ID assigned; CreatedAt when
	// zero; LiftedAt is ignored). An unknown scope fails.
	CreateKillSwitch(ctx context.Context, k KillSwitch) (KillSwitch, error)
	GetKillSwitch(ctx context.Context, id int64) (KillSwitch, error)
	// ListKillSwitches lists the active switches, or all when includeLifted,
	// newest first.
	ListKillSwitches(ctx context.Context, includeLifted bool) ([]KillSwitch, error)
	// LiftKillSwitch lifts an active switch; ErrNotFound if it does not exist
	// or is already lifted.
	LiftKillSwitch(ctx context.Context, id int64, by string, at time.Time) (KillSwitch, error)
}
