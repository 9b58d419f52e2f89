package admin

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// Apps API (spec §4.2): registered internal applications that call the gateway
// on behalf of their end users. An app is shown as store.App:
// {"app_id","name","description","owner_id","is_active","created_at","updated_at"}.
// Every change is audited and published as events.AppChanged so every replica
// drops its cached copy. Deleting an app keeps the usage rows that name it
// (UsageLogs.app_id is a logical reference).

// Limits of app fields (Apps.app_id VARCHAR(50), Apps.name VARCHAR(100)).
const (
	maxAppIDLen          = 50
	maxAppNameLen        = 100
	maxAppDescriptionLen = 2000
)

// appCreate is the body of POST /admin/api/apps?owner_id=….
type appCreate struct {
	AppID       string `json:"app_id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// OwnerID is accepted only to explain that it belongs in the query.
	OwnerID *string `json:"owner_id"`
}

// appToggle is the optional body of PATCH /admin/api/apps/{app_id}/toggle: it
// sets the state instead of flipping it.
type appToggle struct {
	Active *bool `json:"is_active"`
}

// validAppID checks an app id: 1–50 characters of A-Z, a-z, 0-9, '.', '_', '-'.
func validAppID(id string) error {
	ok := id != "" && len(id) <= maxAppIDLen
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return apierror.InvalidRequest("app_id", "'app_id' must be 1 to 50 characters of A-Z, a-z, 0-9, '.', '_' or '-'.")
	}
	return nil
}

func appNotFound(id string) *apierror.Error { return apierror.NotFound("App '" + id + "' was") }

// listApps serves GET /admin/api/apps (by app_id, paginated like every list).
func (a *API) listApps(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	apps, more, err := fetchPage(p, func(pg store.Page) ([]store.App, error) {
		return a.store.ListApps(r.Context(), pg)
	})
	if err != nil {
		return err
	}
	return writeList(w, apps, more)
}

// createApp serves POST /admin/api/apps?owner_id=…; the app starts enabled.
func (a *API) createApp(w http.ResponseWriter, r *http.Request) error {
	owner := r.URL.Query().Get("owner_id")
	var b appCreate
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if b.OwnerID != nil {
		return apierror.InvalidRequest("owner_id", "Pass 'owner_id' as a query parameter: POST /admin/api/apps?owner_id=<user oid>.")
	}
	if owner == "" {
		return apierror.InvalidRequest("owner_id", "Missing required query parameter 'owner_id' (the oid of the user who owns the app).")
	}
	if err := validAppID(b.AppID); err != nil {
		return err
	}
	if b.Name == "" {
		return apierror.InvalidRequest("name", "Missing required parameter: 'name'.")
	}
	if err := validText("name", b.Name, maxAppNameLen); err != nil {
		return err
	}
	if err := validText("description", b.Description, maxAppDescriptionLen); err != nil {
		return err
	}
	app, err := a.store.CreateApp(r.Context(), store.App{
		AppID: b.AppID, Name: b.Name, Description: b.Description, OwnerID: owner, IsActive: true,
	})
	switch {
	case errors.Is(err, store.ErrReferenced):
		return userNotFound(owner)
	case errors.Is(err, store.ErrConflict):
		return apierror.Conflict("An app with app_id '" + b.AppID + "' already exists.")
	case err != nil:
		return err
	}
	a.publish(r, events.AppChanged, app.AppID) // drops "not found" answers cached by replicas
	a.audit(r, "app.create", "app", app.AppID, nil, app)
	return writeJSON(w, http.StatusCreated, app)
}

// deleteApp serves DELETE /admin/api/apps/{app_id}. Usage rows keep the id.
func (a *API) deleteApp(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("app_id")
	before, err := a.store.GetApp(r.Context(), id)
	if err != nil {
		return ifNotFound(err, appNotFound(id))
	}
	if err := a.store.DeleteApp(r.Context(), id); err != nil {
		return ifNotFound(err, appNotFound(id))
	}
	a.publish(r, events.AppChanged, id)
	a.audit(r, "app.delete", "app", id, before, nil)
	return noContent(w)
}

// toggleApp serves PATCH /admin/api/apps/{app_id}/toggle: it flips is_active
// and answers with the app in its new state. A body {"is_active": bool} sets
// the state instead (idempotent, for scripts that must not race).
func (a *API) toggleApp(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("app_id")
	set, err := toggleTarget(w, r)
	if err != nil {
		return err
	}
	before, err := a.store.GetApp(r.Context(), id)
	if err != nil {
		return ifNotFound(err, appNotFound(id))
	}
	active := !before.IsActive
	if set != nil {
		active = *set
	}
	after, err := a.store.SetAppActive(r.Context(), id, active)
	if err != nil {
		return ifNotFound(err, appNotFound(id))
	}
	a.publish(r, events.AppChanged, id)
	a.audit(r, "app.toggle", "app", id, before, after)
	return writeJSON(w, http.StatusOK, after)
}

// toggleTarget reads the optional toggle body: nil when the body is empty.
func toggleTarget(w http.ResponseWriter, r *http.Request) (*bool, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, decodeError(err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	var b appToggle
	r.Body = io.NopCloser(bytes.NewReader(raw))
	if err := decodeBody(w, r, &b); err != nil {
		return nil, err
	}
	if b.Active == nil {
		return nil, apierror.InvalidRequest("is_active", "Send no body to toggle the app, or {\"is_active\": true|false} to set its state.")
	}
	return b.Active, nil
}
