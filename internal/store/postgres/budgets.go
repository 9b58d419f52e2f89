package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

var (
	_ store.Budgets      = (*Store)(nil)
	_ store.KillSwitches = (*Store)(nil)
)

// SetBudget creates or replaces the budget of (Scope, Target).
func (s *Store) SetBudget(ctx context.Context, b store.Budget) (store.Budget, error) {
	what := fmt.Sprintf("postgres: set budget %s %q", b.Scope, b.Target)
	if !b.Scope.Valid() || b.Target == "" || b.Monthly < 0 {
		return store.Budget{}, fmt.Errorf("%s: invalid budget", what)
	}
	if b.UpdatedAt.IsZero() {
		b.UpdatedAt = now()
	}
	b.UpdatedAt = norm(b.UpdatedAt)
	_, err := s.pool.Exec(ctx, `
		INSERT INTO Budgets (scope, target, monthly_nanos, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (scope, target) DO UPDATE SET monthly_nanos = EXCLUDED.monthly_nanos,
			updated_at = EXCLUDED.updated_at`,
		string(b.Scope), b.Target, int64(b.Monthly), b.UpdatedAt)
	if err != nil {
		return store.Budget{}, mapErr(err, what)
	}
	return b, nil
}

func scanBudget(r rowScanner) (store.Budget, error) {
	var b store.Budget
	var scope string
	var monthly int64
	err := r.Scan(&scope, &b.Target, &monthly, &b.UpdatedAt)
	b.Scope, b.Monthly = store.BudgetScope(scope), money.Nanos(monthly)
	fixTime(&b.UpdatedAt)
	return b, err
}

// GetBudget returns the explicit budget of a subject.
func (s *Store) GetBudget(ctx context.Context, scope store.BudgetScope, target string) (store.Budget, error) {
	b, err := scanBudget(s.pool.QueryRow(ctx, `
		SELECT scope, target, monthly_nanos, updated_at FROM Budgets WHERE scope = $1 AND target = $2`,
		string(scope), target))
	if err != nil {
		return store.Budget{}, mapErr(err, fmt.Sprintf("postgres: get budget %s %q", scope, target))
	}
	return b, nil
}

// DeleteBudget removes an explicit budget.
func (s *Store) DeleteBudget(ctx context.Context, scope store.BudgetScope, target string) error {
	return s.execOne(ctx, fmt.Sprintf("postgres: delete budget %s %q", scope, target),
		`DELETE FROM Budgets WHERE scope = $1 AND target = $2`, string(scope), target)
}

// ListBudgets returns every explicit budget.
func (s *Store) ListBudgets(ctx context.Context) ([]store.Budget, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT scope, target, monthly_nanos, updated_at FROM Budgets ORDER BY scope, target`)
	if err != nil {
		return nil, mapErr(err, "postgres: list budgets")
	}
	out, err := collect(rows, scanBudget)
	return out, mapErr(err, "postgres: list budgets")
}

// SumBudgetSpend totals the costs of a subject's rows in [since, until); the
// time bounds prune the UsageLogs partitions.
func (s *Store) SumBudgetSpend(ctx context.Context, scope store.BudgetScope, target string,
	since, until time.Time, exclude []string) (money.Nanos, error) {
	what := fmt.Sprintf("postgres: sum budget spend %s %q", scope, target)
	var col string
	var arg any = target
	switch scope {
	case store.BudgetUser:
		col = "user_oid"
	case store.BudgetApp:
		col = "app_id"
	case store.BudgetKey:
		id, err := strconv.ParseInt(target, 10, 64)
		if err != nil {
			return 0, nil
		}
		col, arg = "key_id", id
	default:
		return 0, fmt.Errorf("%s: unknown scope", what)
	}
	if exclude == nil {
		exclude = []string{}
	}
	var sum int64
	err := s.pool.QueryRow(ctx, `
		SELECT COALESCE(SUM(cost_nanos), 0)::bigint FROM UsageLogs
		WHERE `+col+` = $1 AND created_at >= $2 AND created_at < $3
			AND NOT (request_id = ANY($4::text[]))`,
		arg, norm(since), norm(until), exclude).Scan(&sum)
	if err != nil {
		return 0, mapErr(err, what)
	}
	return money.Nanos(sum), nil
}

const killCols = `id, scope, target, reason, created_by, created_at, lifted_at, lifted_by`

func scanKill(r rowScanner) (store.KillSwitch, error) {
	var k store.KillSwitch
	var scope string
	err := r.Scan(&k.ID, &scope, &k.Target, &k.Reason, &k.CreatedBy, &k.CreatedAt, &k.LiftedAt, &k.LiftedBy)
	k.Scope = store.KillScope(scope)
	fixTime(&k.CreatedAt)
	fixTimePtr(&k.LiftedAt)
	return k, err
}

// CreateKillSwitch stores an active switch.
func (s *Store) CreateKillSwitch(ctx context.Context, k store.KillSwitch) (store.KillSwitch, error) {
	if !k.Scope.Valid() {
		return store.KillSwitch{}, fmt.Errorf("postgres: create kill switch: unknown scope %q", k.Scope)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now()
	}
	k.CreatedAt, k.LiftedAt, k.LiftedBy = norm(k.CreatedAt), nil, ""
	err := s.pool.QueryRow(ctx, `
		INSERT INTO KillSwitches (scope, target, reason, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		string(k.Scope), k.Target, k.Reason, k.CreatedBy, k.CreatedAt).Scan(&k.ID)
	if err != nil {
		return store.KillSwitch{}, mapErr(err, "postgres: create kill switch")
	}
	return k, nil
}

// GetKillSwitch returns one switch, lifted or not.
func (s *Store) GetKillSwitch(ctx context.Context, id int64) (store.KillSwitch, error) {
	k, err := scanKill(s.pool.QueryRow(ctx, `SELECT `+killCols+` FROM KillSwitches WHERE id = $1`, id))
	if err != nil {
		return store.KillSwitch{}, mapErr(err, fmt.Sprintf("postgres: get kill switch %d", id))
	}
	return k, nil
}

// ListKillSwitches lists switches newest first.
func (s *Store) ListKillSwitches(ctx context.Context, includeLifted bool) ([]store.KillSwitch, error) {
	q := `SELECT ` + killCols + ` FROM KillSwitches`
	if !includeLifted {
		q += ` WHERE lifted_at IS NULL`
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY id DESC`)
	if err != nil {
		return nil, mapErr(err, "postgres: list kill switches")
	}
	out, err := collect(rows, scanKill)
	return out, mapErr(err, "postgres: list kill switches")
}

// LiftKillSwitch lifts an active switch.
func (s *Store) LiftKillSwitch(ctx context.Context, id int64, by string, at time.Time) (store.KillSwitch, error) {
	if at.IsZero() {
		at = now()
	}
	k, err := scanKill(s.pool.QueryRow(ctx, `
		UPDATE KillSwitches SET lifted_at = $1, lifted_by = $2 WHERE id = $3 AND lifted_at IS NULL
		RETURNING `+killCols, norm(at), by, id))
	if err != nil {
		return store.KillSwitch{}, mapErr(err, fmt.Sprintf("postgres: lift kill switch %d", id))
	}
	return k, nil
}
