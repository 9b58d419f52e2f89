package admin

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// Limits of kill switch fields.
const (
	maxKillTargetLen = 100
	maxKillReasonLen = 500
)

// registerKillSwitches adds the kill switch routes.
func (a *API) registerKillSwitches(mux *http.ServeMux) {
	mux.Handle("GET /admin/api/killswitch", a.serve(a.listKillSwitches))
	mux.Handle("POST /admin/api/killswitch", a.serve(a.createKillSwitch))
	mux.Handle("DELETE /admin/api/killswitch/{id}", a.serve(a.liftKillSwitch))
}

// killCreate is the body of POST /admin/api/killswitch.
type killCreate struct {
	Scope  string `json:"scope"`
	Target string `json:"target"`
	Reason string `json:"reason"`
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// validKill checks a new switch: a known scope, a target that fits it (none
// for global, a positive id for endpoint and key) and a reason.
func validKill(b killCreate) error {
	scope := store.KillScope(b.Scope)
	if !scope.Valid() {
		return apierror.InvalidRequest("scope", "'scope' must be one of global, model, endpoint, user, app, key.")
	}
	switch {
	case scope == store.KillGlobal && b.Target != "":
		return apierror.InvalidRequest("target", "A global kill switch takes no 'target'.")
	case scope != store.KillGlobal && b.Target == "":
		return apierror.InvalidRequest("target", "'target' names the "+b.Scope+" to block.")
	case scope == store.KillEndpoint || scope == store.KillKey:
		if id, err := strconv.ParseInt(b.Target, 10, 64); err != nil || id <= 0 || strconv.FormatInt(id, 10) != b.Target {
			return apierror.InvalidRequest("target", "The target of a "+b.Scope+" kill switch is its numeric id.")
		}
	}
	if err := validText("target", b.Target, maxKillTargetLen); err != nil {
		return err
	}
	if b.Reason == "" {
		return apierror.InvalidRequest("reason", "'reason' is required: it is shown to the callers that are blocked.")
	}
	return validText("reason", b.Reason, maxKillReasonLen)
}

func (a *API) createKillSwitch(w http.ResponseWriter, r *http.Request) error {
	var b killCreate
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if err := validKill(b); err != nil {
		return err
	}
	k, err := a.store.CreateKillSwitch(r.Context(), store.KillSwitch{
		Scope: store.KillScope(b.Scope), Target: b.Target, Reason: b.Reason,
		CreatedBy: principal(r).UserOID, CreatedAt: a.now().UTC(),
	})
	if err != nil {
		return err
	}
	id := strconv.FormatInt(k.ID, 10)
	a.publish(r, events.KillSwitchChanged, id)
	a.audit(r, "killswitch.create", "killswitch", id, nil, k)
	return writeJSON(w, http.StatusCreated, k)
}

// listKillSwitches lists the active switches, newest first (?all=true adds
// the lifted ones).
func (a *API) listKillSwitches(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	all := false
	if s := r.URL.Query().Get("all"); s != "" {
		if all, err = strconv.ParseBool(s); err != nil {
			return apierror.InvalidRequest("all", "'all' must be true or false.")
		}
	}
	ks, err := a.store.ListKillSwitches(r.Context(), all)
	if err != nil {
		return err
	}
	page, more := slicePage(ks, p)
	return writeList(w, page, more)
}

// liftKillSwitch lifts an active switch (the row stays, with lifted_at).
func (a *API) liftKillSwitch(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "kill switch")
	if err != nil {
		return err
	}
	name := strconv.FormatInt(id, 10)
	before, err := a.store.GetKillSwitch(r.Context(), id)
	if err == nil && !before.Active() {
		err = store.ErrNotFound
	}
	notFound := apierror.NotFound("Active kill switch " + name + " was")
	if err != nil {
		return ifNotFound(err, notFound)
	}
	after, err := a.store.LiftKillSwitch(r.Context(), id, principal(r).UserOID, a.now().UTC())
	if err != nil {
		return ifNotFound(err, notFound)
	}
	a.publish(r, events.KillSwitchChanged, name)
	a.audit(r, "killswitch.lift", "killswitch", name, before, after)
	return noContent(w)
}
