package admin

import (
	"encoding/json"
	"errors"
	"github.com/antigravity/gateway/internal/upstream"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// modelBody is the body of POST and PATCH /admin/api/models[/{name}]. Prices are
// JSON numbers kept as their decimal text so they are parsed exactly.
type modelBody struct {
	Name             *string `json:"name"`
	ContextWindow    *int64  `json:"context_window"`
	MaxOutputTokens  *int64  `json:"max_output_tokens"`
	InputPrice       *usd    `json:"input_price_per_1m"`
	OutputPrice      *usd    `json:"output_price_per_1m"`
	CachedInputPrice *usd    `json:"cached_input_price_per_1m"`
	Routing          *string `json:"routing"`
	Active           *bool   `json:"is_active"`
}

// usd is a USD amount sent as a JSON number (or a string holding one), kept as
// a json.Number: its exact decimal text, never a float. Unlike a bare
// json.Number, a malformed value fails with an UnmarshalTypeError, which the
// decoder tags with the field name.
type usd json.Number

func (u *usd) UnmarshalJSON(b []byte) error {
	s, kind := string(b), "number"
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		kind = "string"
	}
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) || !json.Valid([]byte(s)) || strings.TrimSpace(s) != s {
		if kind == "number" {
			kind = jsonValueKind(b)
		}
		return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[json.Number]()}
	}
	*u = usd(s)
	return nil
}

// jsonValueKind names the kind of a JSON value for error messages.
func jsonValueKind(b []byte) string {
	switch {
	case len(b) == 0:
		return "value"
	case b[0] == 't' || b[0] == 'f':
		return "bool"
	case b[0] == 'n':
		return "null"
	case b[0] == '[':
		return "array"
	case b[0] == '{':
		return "object"
	}
	return "value"
}

// modelView is how a model is shown: prices as JSON numbers in USD per 1M tokens.
type modelView struct {
	Name             string      `json:"name"`
	ContextWindow    int64       `json:"context_window"`
	MaxOutputTokens  int64       `json:"max_output_tokens"`
	InputPrice       json.Number `json:"input_price_per_1m"`
	OutputPrice      json.Number `json:"output_price_per_1m"`
	CachedInputPrice json.Number `json:"cached_input_price_per_1m"`
	Routing          string      `json:"routing"`
	Active           bool        `json:"is_active"`
	CreatedAt        time.Time   `json:"created_at"`
	UpdatedAt        time.Time   `json:"updated_at"`
}

// modelDetail is a model with its endpoints.
type modelDetail struct {
	modelView
	Endpoints []endpointView `json:"endpoints"`
}

func viewModel(m store.Model) modelView {
	return modelView{
		Name: m.Name, ContextWindow: m.ContextWindow, MaxOutputTokens: m.MaxOutputTokens,
		InputPrice: m.InputPrice.MarshalUSD(), OutputPrice: m.OutputPrice.MarshalUSD(),
		CachedInputPrice: m.CachedInputPrice.MarshalUSD(),
		Routing:          m.Routing, Active: m.Active, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
	}
}

func detailModel(m store.Model, eps []store.Endpoint) modelDetail {
	return modelDetail{modelView: viewModel(m), Endpoints: mapSlice(eps, viewEndpoint)}
}

// liveModel is detailModel with the endpoints' live health (for responses,
// never for audit snapshots).
func (a *API) liveModel(m store.Model, eps []store.Endpoint) modelDetail {
	return modelDetail{modelView: viewModel(m), Endpoints: mapSlice(eps, a.liveEndpoint)}
}

// parsePrice converts a JSON number in USD to micro-USD without a float.
func parsePrice(param string, n usd) (money.Micros, error) {
	m, err := money.ParseUSD(string(n))
	if err != nil {
		return 0, apierror.InvalidRequest(param, "'"+param+
			"' must be a non-negative USD amount per 1M tokens with at most 6 decimal places, such as 2.5.")
	}
	return m, nil
}

// apply copies the fields present in b onto m, parsing prices.
func (b *modelBody) apply(m *store.Model) error {
	if b.ContextWindow != nil {
		m.ContextWindow = *b.ContextWindow
	}
	if b.MaxOutputTokens != nil {
		m.MaxOutputTokens = *b.MaxOutputTokens
	}
	prices := []struct {
		param string
		in    *usd
		out   *money.Micros
	}{
		{"input_price_per_1m", b.InputPrice, &m.InputPrice},
		{"output_price_per_1m", b.OutputPrice, &m.OutputPrice},
		{"cached_input_price_per_1m", b.CachedInputPrice, &m.CachedInputPrice},
	}
	for _, p := range prices {
		if p.in == nil {
			continue
		}
		v, err := parsePrice(p.param, *p.in)
		if err != nil {
			return err
		}
		*p.out = v
	}
	if b.Routing != nil {
		m.Routing = *b.Routing
	}
	if b.Active != nil {
		m.Active = *b.Active
	}
	return nil
}

// validModel checks a model's limits once every field is known.
func validModel(m store.Model) error {
	switch {
	case m.ContextWindow <= 0:
		return apierror.InvalidRequest("context_window", "'context_window' must be a positive integer.")
	case m.MaxOutputTokens <= 0 || m.MaxOutputTokens > m.ContextWindow:
		return apierror.InvalidRequest("max_output_tokens", "'max_output_tokens' must be positive and at most 'context_window'.")
	}
	if err := upstream.ValidRouting(m.Routing); err != nil {
		return apierror.InvalidRequest("routing", "Invalid 'routing': "+err.Error()+".")
	}
	return nil
}

func (a *API) listModels(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	models, err := a.store.ListModels(r.Context())
	if err != nil {
		return err
	}
	eps, err := a.store.ListEndpoints(r.Context(), "")
	if err != nil {
		return err
	}
	byModel := map[string][]store.Endpoint{}
	for _, e := range eps {
		byModel[e.Model] = append(byModel[e.Model], e)
	}
	page, more := slicePage(models, p)
	return writeList(w, mapSlice(page, func(m store.Model) modelDetail { return a.liveModel(m, byModel[m.Name]) }), more)
}

func (a *API) createModel(w http.ResponseWriter, r *http.Request) error {
	var b modelBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	required := []struct {
		param   string
		present bool
	}{
		{"name", b.Name != nil},
		{"context_window", b.ContextWindow != nil},
		{"max_output_tokens", b.MaxOutputTokens != nil},
		{"input_price_per_1m", b.InputPrice != nil},
		{"output_price_per_1m", b.OutputPrice != nil},
	}
	for _, f := range required {
		if !f.present {
			return apierror.InvalidRequest(f.param, "Missing required parameter: '"+f.param+"'.")
		}
	}
	if err := validModelName("name", *b.Name); err != nil {
		return err
	}
	now := a.now().UTC()
	m := store.Model{Name: *b.Name, Active: true, CreatedAt: now, UpdatedAt: now}
	if err := b.apply(&m); err != nil {
		return err
	}
	if b.CachedInputPrice == nil {
		m.CachedInputPrice = m.InputPrice
	}
	if err := validModel(m); err != nil {
		return err
	}
	m, err := a.store.CreateModel(r.Context(), m)
	if errors.Is(err, store.ErrConflict) {
		return apierror.Conflict("A model named '" + *b.Name + "' already exists.")
	}
	if err != nil {
		return err
	}
	v := viewModel(m)
	a.publish(r, events.ConfigChanged, m.Name)
	a.audit(r, "model.create", "model", m.Name, nil, v)
	return writeJSON(w, http.StatusCreated, detailModel(m, nil))
}

// modelWithEndpoints loads a model and its endpoints; 404 model_not_found.
func (a *API) modelWithEndpoints(r *http.Request, name string) (store.Model, []store.Endpoint, error) {
	m, err := a.store.GetModel(r.Context(), name)
	if err != nil {
		return m, nil, ifNotFound(err, apierror.ModelNotFound(name))
	}
	eps, err := a.store.ListEndpoints(r.Context(), name)
	return m, eps, err
}

func (a *API) getModel(w http.ResponseWriter, r *http.Request) error {
	m, eps, err := a.modelWithEndpoints(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.liveModel(m, eps))
}

func (a *API) patchModel(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var b modelBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if b.Name != nil && *b.Name != name {
		return apierror.InvalidRequest("name", "A model cannot be renamed; create a new model instead.")
	}
	if b == (modelBody{Name: b.Name}) {
		return apierror.InvalidRequest("", "Send at least one field to change.")
	}
	before, eps, err := a.modelWithEndpoints(r, name)
	if err != nil {
		return err
	}
	merged := before
	if err := b.apply(&merged); err != nil {
		return err
	}
	if err := validModel(merged); err != nil {
		return err
	}
	p := store.ModelPatch{
		ContextWindow: &merged.ContextWindow, MaxOutputTokens: &merged.MaxOutputTokens,
		InputPrice: &merged.InputPrice, OutputPrice: &merged.OutputPrice, CachedInputPrice: &merged.CachedInputPrice,
		Routing: &merged.Routing, Active: &merged.Active,
	}
	after, err := a.store.UpdateModel(r.Context(), name, p)
	if err != nil {
		return ifNotFound(err, apierror.ModelNotFound(name))
	}
	a.publish(r, events.ConfigChanged, name)
	a.audit(r, "model.update", "model", name, viewModel(before), viewModel(after))
	return writeJSON(w, http.StatusOK, a.liveModel(after, eps))
}

// deleteModel removes a model and its endpoints.
func (a *API) deleteModel(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	before, eps, err := a.modelWithEndpoints(r, name)
	if err != nil {
		return err
	}
	if err := a.store.DeleteModel(r.Context(), name); err != nil {
		if errors.Is(err, store.ErrReferenced) {
			return apierror.Conflict("The model '" + name + "' is still referenced and cannot be deleted; deactivate it instead.")
		}
		return ifNotFound(err, apierror.ModelNotFound(name))
	}
	a.publish(r, events.ConfigChanged, name)
	a.audit(r, "model.delete", "model", name, detailModel(before, eps), nil)
	return noContent(w)
}
