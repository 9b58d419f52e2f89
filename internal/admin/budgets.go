package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/budget"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// BudgetStatus reports a budget's current month (budget.Service implements
// it). Without one the admin API reads the month's spend from the database
// (UTC month, nothing reserved, no default user budget).
type BudgetStatus interface {
	Status(ctx context.Context, scope store.BudgetScope, target string) (budget.Status, error)
}

// maxBudget is the largest budget the counters handle exactly (2^53-1 nano-USD).
const maxBudget = money.Nanos(1<<53 - 1)

// registerBudgets adds GET and PUT /admin/api/{users/{oid},apps/{app_id},keys/{id}}/budget.
func (a *API) registerBudgets(mux *http.ServeMux) {
	for _, sc := range []struct {
		path  string
		scope store.BudgetScope
	}{
		{"/admin/api/users/{oid}/budget", store.BudgetUser},
		{"/admin/api/apps/{app_id}/budget", store.BudgetApp},
		{"/admin/api/keys/{id}/budget", store.BudgetKey},
	} {
		mux.Handle("GET "+sc.path, a.serve(a.getBudget(sc.scope)))
		mux.Handle("PUT "+sc.path, a.serve(a.putBudget(sc.scope)))
	}
}

// budgetView is the body of the budget routes; amounts are JSON numbers in USD.
type budgetView struct {
	Scope        store.BudgetScope `json:"scope"`
	Target       string            `json:"target"`
	MonthlyUSD   *json.Number      `json:"monthly_usd"`   // null: no budget
	Source       string            `json:"source"`        // explicit, default or none
	Month        string            `json:"month"`         // YYYY-MM in the billing zone
	SpentUSD     json.Number       `json:"spent_usd"`     // settled this month
	ReservedUSD  json.Number       `json:"reserved_usd"`  // held by requests in flight
	RemainingUSD *json.Number      `json:"remaining_usd"` // null: no budget
	Exhausted    bool              `json:"exhausted"`     // a user so is blocked until the month turns
	UpdatedAt    *time.Time        `json:"updated_at,omitempty"`
}

// budgetSnapshot is what the audit log keeps of a budget.
type budgetSnapshot struct {
	MonthlyUSD json.Number `json:"monthly_usd"`
}

// budgetTarget resolves the subject of a budget route, 404 if it does not exist.
func (a *API) budgetTarget(r *http.Request, scope store.BudgetScope, write bool) (string, error) {
	switch scope {
	case store.BudgetUser:
		oid := r.PathValue("oid")
		if write {
			_, err := a.liveUser(r, oid)
			return oid, err
		}
		_, err := a.store.GetUser(r.Context(), oid)
		return oid, ifNotFound(err, userNotFound(oid))
	case store.BudgetApp:
		id := r.PathValue("app_id")
		_, err := a.store.GetApp(r.Context(), id)
		return id, ifNotFound(err, apierror.NotFound("App '"+id+"' was"))
	default:
		id, err := pathID(r, "key")
		if err != nil {
			return "", err
		}
		_, err = a.store.GetKey(r.Context(), id)
		return strconv.FormatInt(id, 10), ifNotFound(err, apierror.NotFound("API key "+strconv.FormatInt(id, 10)+" was"))
	}
}

func (a *API) getBudget(scope store.BudgetScope) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		target, err := a.budgetTarget(r, scope, false)
		if err != nil {
			return err
		}
		v, err := a.budgetView(r, scope, target)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, v)
	}
}

// budgetView combines the stored budget with the month's counters.
func (a *API) budgetView(r *http.Request, scope store.BudgetScope, target string) (budgetView, error) {
	ctx := r.Context()
	v := budgetView{Scope: scope, Target: target, Source: "none"}
	var st budget.Status
	var err error
	if a.budgets != nil {
		st, err = a.budgets.Status(ctx, scope, target)
	} else {
		m := budget.MonthOf(a.now(), time.UTC)
		st.Month = m.Label
		st.Spent, err = a.store.SumBudgetSpend(ctx, scope, target, m.Start, m.End, nil)
	}
	if err != nil {
		return v, err
	}
	v.Month, v.SpentUSD, v.ReservedUSD = st.Month, st.Spent.JSON(), st.Reserved.JSON()
	limit, ok := money.Nanos(0), false
	b, err := a.store.GetBudget(ctx, scope, target)
	switch {
	case err == nil:
		limit, ok, v.Source, v.UpdatedAt = b.Monthly, true, "explicit", &b.UpdatedAt
	case !isNotFound(err):
		return v, err
	case st.HasDefault:
		limit, ok, v.Source = st.Default, true, "default"
	}
	if ok {
		monthly, left := limit.JSON(), max(limit-st.Spent-st.Reserved, 0).JSON()
		v.MonthlyUSD, v.RemainingUSD = &monthly, &left
		v.Exhausted = st.Spent >= limit
	}
	return v, nil
}

// budgetPut is the body of PUT …/budget: {"monthly_usd": 12.5}, or null to
// remove the budget (a user then falls back to the default budget, if any).
type budgetPut struct {
	MonthlyUSD json.RawMessage `json:"monthly_usd"`
}

func (a *API) putBudget(scope store.BudgetScope) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		target, err := a.budgetTarget(r, scope, true)
		if err != nil {
			return err
		}
		var body budgetPut
		if err := decodeBody(w, r, &body); err != nil {
			return err
		}
		bad := apierror.InvalidRequest("monthly_usd",
			"'monthly_usd' must be a non-negative USD amount (at most 9 decimal places and 9000000), or null to remove the budget.")
		if body.MonthlyUSD == nil {
			return bad
		}
		ctx := r.Context()
		var before any
		if old, err := a.store.GetBudget(ctx, scope, target); err == nil {
			before = budgetSnapshot{old.Monthly.JSON()}
		} else if !isNotFound(err) {
			return err
		}
		name := string(scope) + ":" + target
		if bytes.Equal(bytes.TrimSpace(body.MonthlyUSD), []byte("null")) {
			if err := a.store.DeleteBudget(ctx, scope, target); err != nil && !isNotFound(err) {
				return err
			}
			a.publish(r, events.BudgetChanged, name)
			if before != nil {
				a.audit(r, "budget.remove", "budget", name, before, nil)
			}
		} else {
			var u usd
			if err := u.UnmarshalJSON(body.MonthlyUSD); err != nil {
				return bad
			}
			n, err := money.ParseUSDNanos(string(u))
			if err != nil || n > maxBudget {
				return bad
			}
			b, err := a.store.SetBudget(ctx, store.Budget{Scope: scope, Target: target, Monthly: n, UpdatedAt: a.now().UTC()})
			if err != nil {
				return err
			}
			a.publish(r, events.BudgetChanged, name)
			a.audit(r, "budget.set", "budget", name, before, budgetSnapshot{b.Monthly.JSON()})
		}
		v, err := a.budgetView(r, scope, target)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, v)
	}
}
