package admin

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/upstream"
)

// defaultOpenAIBaseURL is the base URL of provider "openai" when none is given.
const defaultOpenAIBaseURL = "https://api.openai.com/v1"

// endpointBody is the body of POST and PATCH for endpoints; absent fields are nil.
type endpointBody struct {
	Provider      *string `json:"provider"`
	BaseURL       *string `json:"base_url"`
	UpstreamModel *string `json:"upstream_model"`
	APIKey        *string `json:"api_key"`
	APIVersion    *string `json:"api_version"`
	Weight        *int    `json:"weight"`
	Priority      *int    `json:"priority"`
	RPMLimit      *int64  `json:"rpm_limit"`
	TPMLimit      *int64  `json:"tpm_limit"`
	Active        *bool   `json:"is_active"`
	Draining      *bool   `json:"draining"`
}

// endpointView is how an endpoint is shown: whether it has a credential, never
// the credential.
type endpointView struct {
	ID            int64     `json:"id"`
	Model         string    `json:"model"`
	Provider      string    `json:"provider"`
	BaseURL       string    `json:"base_url"`
	UpstreamModel string    `json:"upstream_model"`
	APIVersion    string    `json:"api_version"`
	HasAPIKey     bool      `json:"has_api_key"`
	Weight        int       `json:"weight"`
	Priority      int       `json:"priority"`
	RPMLimit      int64     `json:"rpm_limit"`
	TPMLimit      int64     `json:"tpm_limit"`
	Active        bool      `json:"is_active"`
	Draining      bool      `json:"draining"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// Health is this replica's live view of the endpoint (absent for inactive
	// endpoints and in audit snapshots).
	Health *upstream.HealthInfo `json:"health,omitempty"`
}

func viewEndpoint(e store.Endpoint) endpointView {
	return endpointView{
		ID: e.ID, Model: e.Model, Provider: e.Provider, BaseURL: e.BaseURL, UpstreamModel: e.UpstreamModel,
		APIVersion: e.APIVersion, HasAPIKey: len(e.Credential) > 0, Weight: e.Weight, Priority: e.Priority,
		RPMLimit: e.RPMLimit, TPMLimit: e.TPMLimit, Active: e.Active, Draining: e.Draining, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
	}
}

// liveEndpoint is viewEndpoint with the endpoint's live health attached.
func (a *API) liveEndpoint(e store.Endpoint) endpointView {
	v := viewEndpoint(e)
	if a.health != nil {
		if h, ok := a.health.EndpointHealth(e.ID); ok {
			v.Health = &h
		}
	}
	return v
}

// apply copies the non-secret fields present in b onto e.
func (b *endpointBody) apply(e *store.Endpoint) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&e.Provider, b.Provider)
	set(&e.BaseURL, b.BaseURL)
	set(&e.UpstreamModel, b.UpstreamModel)
	set(&e.APIVersion, b.APIVersion)
	if b.Weight != nil {
		e.Weight = *b.Weight
	}
	if b.Priority != nil {
		e.Priority = *b.Priority
	}
	if b.RPMLimit != nil {
		e.RPMLimit = *b.RPMLimit
	}
	if b.TPMLimit != nil {
		e.TPMLimit = *b.TPMLimit
	}
	if b.Active != nil {
		e.Active = *b.Active
	}
	if b.Draining != nil {
		e.Draining = *b.Draining
	}
}

// normalizeEndpoint applies defaults to e (whose Model is set) and validates it.
func normalizeEndpoint(e *store.Endpoint) error {
	switch e.Provider {
	case store.ProviderOpenAI, store.ProviderOpenAICompatible, store.ProviderAzure, store.ProviderFake,
		store.ProviderAnthropic, store.ProviderGemini:
	case "":
		return apierror.InvalidRequest("provider", "Missing required parameter: 'provider'.")
	default:
		return apierror.InvalidRequest("provider", "'provider' must be one of \"openai\", \"openai_compatible\", \"azure\", \"anthropic\", \"gemini\", \"fake\".")
	}
	if e.BaseURL == "" && e.Provider == store.ProviderAnthropic {
		e.BaseURL = "https://api.anthropic.com"
	}
	if e.BaseURL == "" && e.Provider == store.ProviderGemini {
		e.BaseURL = "https://generativelanguage.googleapis.com"
	}
	if e.BaseURL == "" && e.Provider == store.ProviderOpenAI {
		e.BaseURL = defaultOpenAIBaseURL
	}
	if e.BaseURL == "" && e.Provider != store.ProviderFake {
		return apierror.InvalidRequest("base_url", "'base_url' is required for provider \""+e.Provider+"\".")
	}
	if e.BaseURL != "" {
		u, err := normalBaseURL(e.BaseURL)
		if err != nil {
			return err
		}
		e.BaseURL = u
	}
	if e.Provider == store.ProviderAzure && e.APIVersion == "" {
		return apierror.InvalidRequest("api_version", "'api_version' is required for provider \"azure\", e.g. 2024-10-21.")
	}
	if e.UpstreamModel == "" {
		e.UpstreamModel = e.Model
	}
	if err := validText("upstream_model", e.UpstreamModel, maxUpstreamLen); err != nil {
		return err
	}
	if err := validText("api_version", e.APIVersion, maxAPIVersionLen); err != nil {
		return err
	}
	switch {
	case e.Weight < 0:
		return apierror.InvalidRequest("weight", "'weight' must be 0 or more.")
	case e.Priority < 1:
		return apierror.InvalidRequest("priority", "'priority' must be 1 or more.")
	case e.RPMLimit < 0:
		return apierror.InvalidRequest("rpm_limit", "'rpm_limit' must be 0 (unlimited) or more.")
	case e.TPMLimit < 0:
		return apierror.InvalidRequest("tpm_limit", "'tpm_limit' must be 0 (unlimited) or more.")
	}
	return nil
}

// sealKey encrypts a non-empty upstream credential; "" or absent gives nil.
func (a *API) sealKey(key *string) ([]byte, error) {
	if key == nil || *key == "" {
		return nil, nil
	}
	if len(*key) > maxAPIKeyLen {
		return nil, apierror.InvalidRequest("api_key", "'api_key' must be at most 8192 characters.")
	}
	if a.box == nil {
		return nil, errors.New("admin: no secrets box configured to seal upstream credentials")
	}
	return a.box.Seal(*key)
}

func (a *API) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	_, eps, err := a.modelWithEndpoints(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	page, more := slicePage(eps, p)
	return writeList(w, mapSlice(page, a.liveEndpoint), more)
}

func (a *API) createEndpoint(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var b endpointBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	now := a.now().UTC()
	e := store.Endpoint{Model: name, Weight: 1, Priority: 1, Active: true, CreatedAt: now, UpdatedAt: now}
	b.apply(&e)
	if e.Provider == store.ProviderAzure && e.UpstreamModel == "" {
		return apierror.InvalidRequest("upstream_model", "'upstream_model' (the Azure deployment name) is required for provider \"azure\".")
	}
	if err := normalizeEndpoint(&e); err != nil {
		return err
	}
	if _, err := a.store.GetModel(r.Context(), name); err != nil {
		return ifNotFound(err, apierror.ModelNotFound(name))
	}
	cred, err := a.sealKey(b.APIKey)
	if err != nil {
		return err
	}
	e.Credential = cred
	e, err = a.store.CreateEndpoint(r.Context(), e)
	if errors.Is(err, store.ErrReferenced) {
		return apierror.ModelNotFound(name)
	}
	if err != nil {
		return err
	}
	v := viewEndpoint(e)
	a.publish(r, events.ConfigChanged, name)
	a.audit(r, "endpoint.create", "endpoint", strconv.FormatInt(e.ID, 10), nil, v)
	return writeJSON(w, http.StatusCreated, v)
}

func endpointNotFound(id int64) *apierror.Error {
	return apierror.NotFound("Endpoint " + strconv.FormatInt(id, 10) + " was")
}

// endpoint loads the endpoint named by the {id} path parameter.
func (a *API) endpoint(r *http.Request) (store.Endpoint, error) {
	id, err := pathID(r, "endpoint")
	if err != nil {
		return store.Endpoint{}, err
	}
	e, err := a.store.GetEndpoint(r.Context(), id)
	return e, ifNotFound(err, endpointNotFound(id))
}

func (a *API) getEndpoint(w http.ResponseWriter, r *http.Request) error {
	e, err := a.endpoint(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.liveEndpoint(e))
}

// patchEndpoint changes the fields present; a non-empty api_key replaces the
// credential, an absent or empty one keeps it.
func (a *API) patchEndpoint(w http.ResponseWriter, r *http.Request) error {
	var b endpointBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if b == (endpointBody{}) {
		return apierror.InvalidRequest("", "Send at least one field to change.")
	}
	before, err := a.endpoint(r)
	if err != nil {
		return err
	}
	merged := before
	b.apply(&merged)
	if err := normalizeEndpoint(&merged); err != nil {
		return err
	}
	cred, err := a.sealKey(b.APIKey)
	if err != nil {
		return err
	}
	p := store.EndpointPatch{
		Provider: &merged.Provider, BaseURL: &merged.BaseURL, UpstreamModel: &merged.UpstreamModel,
		APIVersion: &merged.APIVersion, Credential: cred, Weight: &merged.Weight, Priority: &merged.Priority,
		RPMLimit: &merged.RPMLimit, TPMLimit: &merged.TPMLimit, Active: &merged.Active, Draining: &merged.Draining,
	}
	after, err := a.store.UpdateEndpoint(r.Context(), before.ID, p)
	if err != nil {
		return ifNotFound(err, endpointNotFound(before.ID))
	}
	a.publish(r, events.ConfigChanged, after.Model)
	a.audit(r, "endpoint.update", "endpoint", strconv.FormatInt(after.ID, 10), viewEndpoint(before), viewEndpoint(after))
	return writeJSON(w, http.StatusOK, viewEndpoint(after))
}

// drainEndpoint serves POST /admin/api/endpoints/{id}/drain and /undrain: a
// draining endpoint takes no new requests on any replica; in-flight ones finish.
func (a *API) drainEndpoint(on bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		before, err := a.endpoint(r)
		if err != nil {
			return err
		}
		after, err := a.store.UpdateEndpoint(r.Context(), before.ID, store.EndpointPatch{Draining: &on})
		if err != nil {
			return ifNotFound(err, endpointNotFound(before.ID))
		}
		action := "endpoint.undrain"
		if on {
			action = "endpoint.drain"
		}
		a.publish(r, events.ConfigChanged, after.Model)
		a.audit(r, action, "endpoint", strconv.FormatInt(after.ID, 10), viewEndpoint(before), viewEndpoint(after))
		return writeJSON(w, http.StatusOK, a.liveEndpoint(after))
	}
}

func (a *API) deleteEndpoint(w http.ResponseWriter, r *http.Request) error {
	before, err := a.endpoint(r)
	if err != nil {
		return err
	}
	if err := a.store.DeleteEndpoint(r.Context(), before.ID); err != nil {
		return ifNotFound(err, endpointNotFound(before.ID))
	}
	a.publish(r, events.ConfigChanged, before.Model)
	a.audit(r, "endpoint.delete", "endpoint", strconv.FormatInt(before.ID, 10), viewEndpoint(before), nil)
	return noContent(w)
}
