package billing

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/store"
)

// Bounds of the user list of GET /admin/api/billing (JSON; CSV has no default
// limit).
const (
	defaultLimit = 100
	maxLimit     = 1000
	maxSearchLen = 256
)

// userFilter reads ?limit= (1–1000; default 100 for JSON, every user for
// CSV), ?offset= (≥ 0) and ?q= (a substring of the oid or email).
func userFilter(r *http.Request, m store.Month, csv bool) (store.BillingUserFilter, error) {
	q := r.URL.Query()
	f := store.BillingUserFilter{Month: m, Search: q.Get("q")}
	if !csv {
		f.Limit = defaultLimit
	}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxLimit {
			return f, apierror.InvalidRequest("limit", "'limit' must be an integer between 1 and 1000.")
		}
		f.Limit = n
	}
	if q.Has("offset") {
		n, err := strconv.Atoi(q.Get("offset"))
		if err != nil || n < 0 {
			return f, apierror.InvalidRequest("offset", "'offset' must be a non-negative integer.")
		}
		f.Offset = n
	}
	if len(f.Search) > maxSearchLen {
		return f, apierror.InvalidRequest("q", "'q' must be at most 256 bytes.")
	}
	return f, nil
}

// monthAndFormat reads the month and the output format every route takes.
func (a *API) monthAndFormat(r *http.Request) (store.Month, bool, error) {
	m, err := a.month(r)
	if err != nil {
		return m, false, err
	}
	csv, err := wantsCSV(r)
	return m, csv, err
}

// byUser serves GET /admin/api/billing: the month's totals and its users by
// cost, in exactly the shape of spec §4.1. The totals cover the whole month;
// the users are one page of those matching q, and X-Total-Count says how many
// match in all.
func (a *API) byUser(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	m, csv, err := a.monthAndFormat(r)
	if err != nil {
		return err
	}
	f, err := userFilter(r, m, csv)
	if err != nil {
		return err
	}
	users, total, err := a.store.BillingByUser(r.Context(), f)
	if err != nil {
		return err
	}
	w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	if csv {
		t := table{header: headerOf("month", "user_oid", "email")}
		for _, u := range users {
			t.rows = append(t.rows, cells(u.BillingAmounts, m.String(), u.UserOID, u.Email))
		}
		return writeCSV(w, "billing-"+m.String()+".csv", t)
	}
	tot, err := a.store.BillingTotals(r.Context(), m)
	if err != nil {
		return err
	}
	return writeJSON(w, monthView{Month: m.String(), TotalCost: usd(tot), TotalRequests: tot.Requests,
		Users: mapSlice(users, func(u store.BillingUserRow) userRowView {
			return userRowView{UserOID: u.UserOID, Email: u.Email, Requests: u.Requests, TotalCost: usd(u.BillingAmounts)}
		})})
}

// byApp serves GET /admin/api/billing/apps.
func (a *API) byApp(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	m, csv, err := a.monthAndFormat(r)
	if err != nil {
		return err
	}
	apps, err := a.store.BillingByApp(r.Context(), m)
	if err != nil {
		return err
	}
	if csv {
		t := table{header: headerOf("month", "app_id", "name", "owner_id")}
		for _, x := range apps {
			t.rows = append(t.rows, cells(x.BillingAmounts, m.String(), x.AppID, x.Name, x.OwnerID))
		}
		return writeCSV(w, "billing-apps-"+m.String()+".csv", t)
	}
	return writeJSON(w, appsView{breakdownHead: head(m, sumOf(apps, appAmounts)), Apps: mapSlice(apps, viewApp)})
}

// byModel serves GET /admin/api/billing/models.
func (a *API) byModel(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	m, csv, err := a.monthAndFormat(r)
	if err != nil {
		return err
	}
	models, err := a.store.BillingByModel(r.Context(), m)
	if err != nil {
		return err
	}
	if csv {
		t := table{header: headerOf("month", "model")}
		for _, x := range models {
			t.rows = append(t.rows, cells(x.BillingAmounts, m.String(), x.Model))
		}
		return writeCSV(w, "billing-models-"+m.String()+".csv", t)
	}
	return writeJSON(w, modelsView{breakdownHead: head(m, sumOf(models, modelAmounts)),
		Models: mapSlice(models, viewModel)})
}

// byDay serves GET /admin/api/billing/daily: every day of the month, zeros
// included.
func (a *API) byDay(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	m, csv, err := a.monthAndFormat(r)
	if err != nil {
		return err
	}
	days, err := a.store.BillingByDay(r.Context(), m)
	if err != nil {
		return err
	}
	views := viewDays(m, days)
	if csv {
		return writeCSV(w, "billing-daily-"+m.String()+".csv", dayTable(views))
	}
	return writeJSON(w, daysView{breakdownHead: head(m, sumOf(days, dayAmounts)), Days: views})
}

// dayTable is the CSV of a day list.
func dayTable(days []dayView) table {
	t := table{header: []string{"date", "requests", "prompt_tokens", "completion_tokens",
		"cached_tokens", "reasoning_tokens", "total_cost_usd"}}
	for _, d := range days {
		i := func(n int64) string { return strconv.FormatInt(n, 10) }
		t.rows = append(t.rows, []string{d.Date, i(d.Requests), i(d.PromptTokens), i(d.CompletionTokens),
			i(d.CachedTokens), i(d.ReasoningTokens), d.TotalCost.String()})
	}
	return t
}

// userDetail serves GET /admin/api/billing/users/{oid}: one user's month by
// app, model and day (CSV: the user's rows by day × app × model).
func (a *API) userDetail(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	m, csv, err := a.monthAndFormat(r)
	if err != nil {
		return err
	}
	oid := r.PathValue("oid")
	u, err := a.store.GetUser(r.Context(), oid)
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFound("User '" + oid + "' was")
	}
	if err != nil {
		return err
	}
	ub, err := a.store.UserBilling(r.Context(), oid, m)
	if err != nil {
		return err
	}
	if csv {
		return writeCSV(w, "billing-"+oid+"-"+m.String()+".csv", userRowsTable(ub))
	}
	return writeJSON(w, viewUserDetail(u, ub))
}

// userRowsTable is the CSV of one user's rollup rows.
func userRowsTable(ub store.UserBilling) table {
	t := table{header: headerOf("date", "user_oid", "app_id", "app_name", "model")}
	for _, x := range ub.Rows {
		t.rows = append(t.rows, cells(x.BillingAmounts, x.Day.Format(store.DayLayout), ub.UserOID,
			x.AppID, x.AppName, x.Model))
	}
	return t
}

func appAmounts(r store.BillingAppRow) store.BillingAmounts     { return r.BillingAmounts }
func modelAmounts(r store.BillingModelRow) store.BillingAmounts { return r.BillingAmounts }
func dayAmounts(r store.BillingDayRow) store.BillingAmounts     { return r.BillingAmounts }

// sumOf adds the amounts of every row (a breakdown covers the whole month).
func sumOf[T any](rows []T, amounts func(T) store.BillingAmounts) store.BillingAmounts {
	var t store.BillingAmounts
	for _, r := range rows {
		t = t.Add(amounts(r))
	}
	return t
}
