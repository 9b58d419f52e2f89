package billing

import (
	"encoding/json"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

// usd renders nano-USD as a JSON number in USD, exactly (no float).
func usd(a store.BillingAmounts) json.Number { return a.Cost.JSON() }

// monthView is the body of GET /admin/api/billing, exactly spec §4.1.
type monthView struct {
	Month         string        `json:"month"`
	TotalCost     json.Number   `json:"total_cost"`
	TotalRequests int64         `json:"total_requests"`
	Users         []userRowView `json:"users"`
}

// userRowView is one user of the month (spec §4.1).
type userRowView struct {
	UserOID   string      `json:"user_oid"`
	Email     string      `json:"email"`
	Requests  int64       `json:"requests"`
	TotalCost json.Number `json:"total_cost"`
}

// amountsView are the amounts of a breakdown row.
type amountsView struct {
	Requests         int64       `json:"requests"`
	PromptTokens     int64       `json:"prompt_tokens"`
	CompletionTokens int64       `json:"completion_tokens"`
	CachedTokens     int64       `json:"cached_tokens"`
	ReasoningTokens  int64       `json:"reasoning_tokens"`
	TotalCost        json.Number `json:"total_cost"`
}

func viewAmounts(a store.BillingAmounts) amountsView {
	return amountsView{Requests: a.Requests, PromptTokens: a.PromptTokens,
		CompletionTokens: a.CompletionTokens, CachedTokens: a.CachedTokens,
		ReasoningTokens: a.ReasoningTokens, TotalCost: usd(a)}
}

// appView is one app's month; AppID is null for usage made without an app.
type appView struct {
	AppID   *string `json:"app_id"`
	Name    string  `json:"name"`
	OwnerID string  `json:"owner_id"`
	amountsView
}

func viewApp(r store.BillingAppRow) appView {
	v := appView{Name: r.Name, OwnerID: r.OwnerID, amountsView: viewAmounts(r.BillingAmounts)}
	if r.AppID != "" {
		id := r.AppID
		v.AppID = &id
	}
	return v
}

// modelView is one model's month.
type modelView struct {
	Model string `json:"model"`
	amountsView
}

func viewModel(r store.BillingModelRow) modelView {
	return modelView{Model: r.Model, amountsView: viewAmounts(r.BillingAmounts)}
}

// dayView is one day of the month.
type dayView struct {
	Date string `json:"date"`
	amountsView
}

// viewDays lists every day of m, with zeros for the days without usage.
func viewDays(m store.Month, rows []store.BillingDayRow) []dayView {
	byDate := map[string]store.BillingAmounts{}
	for _, r := range rows {
		byDate[r.Day.Format(store.DayLayout)] = r.BillingAmounts
	}
	out := make([]dayView, m.Days())
	for i := range out {
		d := time.Date(m.Year, m.Month, i+1, 0, 0, 0, 0, time.UTC).Format(store.DayLayout)
		out[i] = dayView{Date: d, amountsView: viewAmounts(byDate[d])}
	}
	return out
}

// breakdownHead opens every breakdown body: the month and its totals.
type breakdownHead struct {
	Month         string      `json:"month"`
	TotalCost     json.Number `json:"total_cost"`
	TotalRequests int64       `json:"total_requests"`
}

func head(m store.Month, t store.BillingAmounts) breakdownHead {
	return breakdownHead{Month: m.String(), TotalCost: usd(t), TotalRequests: t.Requests}
}

type appsView struct {
	breakdownHead
	Apps []appView `json:"apps"`
}

type modelsView struct {
	breakdownHead
	Models []modelView `json:"models"`
}

type daysView struct {
	breakdownHead
	Days []dayView `json:"days"`
}

// userDetailView is one user's month: totals and breakdowns.
type userDetailView struct {
	Month     string      `json:"month"`
	UserOID   string      `json:"user_oid"`
	Email     string      `json:"email"`
	TotalCost json.Number `json:"total_cost"`
	// TotalRequests and the token totals of the month.
	TotalRequests    int64       `json:"total_requests"`
	PromptTokens     int64       `json:"prompt_tokens"`
	CompletionTokens int64       `json:"completion_tokens"`
	CachedTokens     int64       `json:"cached_tokens"`
	ReasoningTokens  int64       `json:"reasoning_tokens"`
	Apps             []appView   `json:"apps"`
	Models           []modelView `json:"models"`
	Days             []dayView   `json:"days"`
}

func viewUserDetail(u store.User, ub store.UserBilling) userDetailView {
	t := ub.Totals
	return userDetailView{
		Month: ub.Month.String(), UserOID: ub.UserOID, Email: u.Email, TotalCost: usd(t),
		TotalRequests: t.Requests, PromptTokens: t.PromptTokens, CompletionTokens: t.CompletionTokens,
		CachedTokens: t.CachedTokens, ReasoningTokens: t.ReasoningTokens,
		Apps: mapSlice(ub.Apps, viewApp), Models: mapSlice(ub.Models, viewModel),
		Days: viewDays(ub.Month, ub.Days),
	}
}

// keyView is how /v1/me/usage shows a key: never its secret or hash.
type keyView struct {
	ID            int64      `json:"id"`
	Prefix        string     `json:"prefix"`
	Name          string     `json:"name"`
	Active        bool       `json:"is_active"`
	ExpiresAt     *time.Time `json:"expires_at"`
	LastUsedAt    *time.Time `json:"last_used_at"`
	AllowedModels []string   `json:"allowed_models"`
	CreatedAt     time.Time  `json:"created_at"`
}

func viewKey(k store.APIKey) keyView {
	models := k.AllowedModels
	if models == nil {
		models = []string{}
	}
	return keyView{ID: k.ID, Prefix: k.Prefix, Name: k.Name, Active: k.Active, ExpiresAt: k.ExpiresAt,
		LastUsedAt: k.LastUsedAt, AllowedModels: models, CreatedAt: k.CreatedAt}
}

// meView is the body of GET /v1/me/usage.
type meView struct {
	Object string `json:"object"`
	userDetailView
	Keys []keyView `json:"keys"`
}

// mapSlice converts every element of in (never returning nil).
func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
