package sqlite

import (
	"context"
	"encoding/json"
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
	what := fmt.Sprintf("sqlite: set budget %s %q", b.Scope, b.Target)
	if !b.Scope.Valid() || b.Target == "" || b.Monthly < 0 {
		return store.Budget{}, fmt.Errorf("%s: invalid budget", what)
	}
	if b.UpdatedAt.IsZero() {
		b.UpdatedAt = now()
	}
	b.UpdatedAt = norm(b.UpdatedAt)
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO Budgets (scope, target, monthly_nanos, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (scope, target) DO UPDATE SET monthly_nanos = excluded.monthly_nanos,
			updated_at = excluded.updated_at`,
		string(b.Scope), b.Target, int64(b.Monthly), fmtTime(b.UpdatedAt))
	if err != nil {
		return store.Budget{}, mapErr(err, what)
	}
	return b, nil
}

func scanBudget(r rowScanner) (store.Budget, error) {
	var b store.Budget
	err := r.Scan(&b.Scope, &b.Target, &b.Monthly, timeCol{&b.UpdatedAt})
	return b, err
}

// GetBudget returns the explicit budget of a subject.
func (s *Store) GetBudget(ctx context.Context, scope store.BudgetScope, target string) (store.Budget, error) {
	b, err := scanBudget(s.db.QueryRowContext(ctx, `
		SELECT scope, target, monthly_nanos, updated_at FROM Budgets WHERE scope = ? AND target = ?`,
		string(scope), target))
	if err != nil {
		return store.Budget{}, mapErr(err, fmt.Sprintf("sqlite: get budget %s %q", scope, target))
	}
	return b, nil
}

// DeleteBudget removes an explicit budget.
func (s *Store) DeleteBudget(ctx context.Context, scope store.BudgetScope, target string) error {
	what := fmt.Sprintf("sqlite: delete budget %s %q", scope, target)
	res, err := s.db.ExecContext(ctx, `DELETE FROM Budgets WHERE scope = ? AND target = ?`, string(scope), target)
	if err != nil {
		return mapErr(err, what)
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr(err, what)
	} else if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// ListBudgets returns every explicit budget.
func (s *Store) ListBudgets(ctx context.Context) ([]store.Budget, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT scope, target, monthly_nanos, updated_at FROM Budgets ORDER BY scope, target`)
	if err != nil {
		return nil, mapErr(err, "sqlite: list budgets")
	}
	defer rows.Close()
	out := []store.Budget{}
	for rows.Next() {
		b, err := scanBudget(rows)
		if err != nil {
			return nil, mapErr(err, "sqlite: list budgets")
		}
		out = append(out, b)
	}
	return out, mapErr(rows.Err(), "sqlite: list budgets")
}

// SumBudgetSpend totals the costs of a subject's rows in [since, until).
func (s *Store) SumBudgetSpend(ctx context.Context, scope store.BudgetScope, target string,
	since, until time.Time, exclude []string) (money.Nanos, error) {
	what := fmt.Sprintf("sqlite: sum budget spend %s %q", scope, target)
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
	ex, _ := json.Marshal(exclude)
	var sum int64
	err := s.db.QueryRowContext(ctx, `
		SELECT COALESCE(SUM(cost_nanos), 0) FROM UsageLogs
		WHERE `+col+` = ? AND created_at >= ? AND created_at < ?
			AND request_id NOT IN (SELECT value FROM json_each(?))`,
		arg, fmtTime(since), fmtTime(until), string(ex)).Scan(&sum)
	if err != nil {
		return 0, mapErr(err, what)
	}
	return money.Nanos(sum), nil
}

const killCols = `id, scope, target, reason, created_by, created_at, lifted_at, lifted_by`

func scanKill(r rowScanner) (store.KillSwitch, error) {
	var k store.KillSwitch
	err := r.Scan(&k.ID, &k.Scope, &k.Target, &k.Reason, &k.CreatedBy, timeCol{&k.CreatedAt},
		nullTimeCol{&k.LiftedAt}, &k.LiftedBy)
	return k, err
}

// CreateKillSwitch stores an active switch.
func (s *Store) CreateKillSwitch(ctx context.Context, k store.KillSwitch) (store.KillSwitch, error) {
	if !k.Scope.Valid() {
		return store.KillSwitch{}, fmt.Errorf("sqlite: create kill switch: unknown scope %q", k.Scope)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now()
	}
	k.CreatedAt, k.LiftedAt, k.LiftedBy = norm(k.CreatedAt), nil, ""
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO KillSwitches (scope, target, reason, created_by, created_at) VALUES (?, ?, ?, ?, ?)`,
		string(k.Scope), k.Target, k.Reason, k.CreatedBy, fmtTime(k.CreatedAt))
	if err != nil {
		return store.KillSwitch{}, mapErr(err, "sqlite: create kill switch")
	}
	if k.ID, err = res.LastInsertId(); err != nil {
		return store.KillSwitch{}, mapErr(err, "sqlite: create kill switch")
	}
	return k, nil
}

// GetKillSwitch returns one switch, lifted or not.
func (s *Store) GetKillSwitch(ctx context.Context, id int64) (store.KillSwitch, error) {
	k, err := scanKill(s.db.QueryRowContext(ctx, `SELECT `+killCols+` FROM KillSwitches WHERE id = ?`, id))
	if err != nil {
		return store.KillSwitch{}, mapErr(err, fmt.Sprintf("sqlite: get kill switch %d", id))
	}
	return k, nil
}

// ListKillSwitches lists switches newest first.
func (s *Store) ListKillSwitches(ctx context.Context, includeLifted bool) ([]store.KillSwitch, error) {
	q := `SELECT ` + killCols + ` FROM KillSwitches`
	if !includeLifted {
		q += ` WHERE lifted_at IS NULL`
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id DESC`)
	if err != nil {
		return nil, mapErr(err, "sqlite: list kill switches")
	}
	defer rows.Close()
	out := []store.KillSwitch{}
	for rows.Next() {
		k, err := scanKill(rows)
		if err != nil {
			return nil, mapErr(err, "sqlite: list kill switches")
		}
		out = append(out, k)
	}
	return out, mapErr(rows.Err(), "sqlite: list kill switches")
}

// LiftKillSwitch lifts an active switch.
func (s *Store) LiftKillSwitch(ctx context.Context, id int64, by string, at time.Time) (store.KillSwitch, error) {
	if at.IsZero() {
		at = now()
	}
	k, err := scanKill(s.db.QueryRowContext(ctx, `
		UPDATE KillSwitches SET lifted_at = ?, lifted_by = ? WHERE id = ? AND lifted_at IS NULL
		RETURNING `+killCols, fmtTime(at), by, id))
	if err != nil {
		return store.KillSwitch{}, mapErr(err, fmt.Sprintf("sqlite: lift kill switch %d", id))
	}
	return k, nil
}
