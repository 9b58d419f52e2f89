package admin

import (
	"errors"
	"net/http"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// userCreate is the body of POST /admin/api/users.
type userCreate struct {
	OID         string `json:"oid"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
	Role        string `json:"role"`
}

// userPatch is the body of PATCH /admin/api/users/{oid}.
type userPatch struct {
	Email       *string `json:"email"`
	DisplayName *string `json:"display_name"`
	Role        *string `json:"role"`
	Active      *bool   `json:"is_active"`
}

func parseRole(s string) (store.Role, error) {
	if s == "" {
		return store.RoleUser, nil
	}
	r := store.Role(s)
	if !r.Valid() {
		return "", apierror.InvalidRequest("role", "'role' must be \"admin\" or \"user\".")
	}
	return r, nil
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	users, more, err := fetchPage(p, func(pg store.Page) ([]store.User, error) {
		return a.store.ListUsers(r.Context(), pg)
	})
	if err != nil {
		return err
	}
	return writeList(w, users, more)
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	var b userCreate
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if b.OID == "" {
		oid, err := newUUID()
		if err != nil {
			return err
		}
		b.OID = oid
	} else if err := validOID(b.OID); err != nil {
		return err
	}
	if err := validEmail(b.Email); err != nil {
		return err
	}
	if err := validText("display_name", b.DisplayName, maxDisplayNameLen); err != nil {
		return err
	}
	role, err := parseRole(b.Role)
	if err != nil {
		return err
	}
	now := a.now().UTC()
	u, err := a.store.CreateUser(r.Context(), store.User{
		OID: b.OID, Email: b.Email, DisplayName: b.DisplayName, Role: role, Active: true,
		CreatedAt: now, UpdatedAt: now,
	})
	if errors.Is(err, store.ErrConflict) {
		return apierror.Conflict("A user with oid '" + b.OID + "' already exists (deleted users keep their oid).")
	}
	if err != nil {
		return err
	}
	a.publish(r, events.UserChanged, u.OID) // drops "not found" answers cached for delegation
	a.audit(r, "user.create", "user", u.OID, nil, u)
	return writeJSON(w, http.StatusCreated, u)
}

// liveUser returns the user unless it is unknown or deleted.
func (a *API) liveUser(r *http.Request, oid string) (store.User, error) {
	u, err := a.store.GetUser(r.Context(), oid)
	if err != nil {
		return u, ifNotFound(err, userNotFound(oid))
	}
	if u.DeletedAt != nil {
		return u, userNotFound(oid)
	}
	return u, nil
}

// getUser returns a user, deleted ones included (with deleted_at) so billing
// history stays explainable.
func (a *API) getUser(w http.ResponseWriter, r *http.Request) error {
	oid := r.PathValue("oid")
	u, err := a.store.GetUser(r.Context(), oid)
	if err != nil {
		return ifNotFound(err, userNotFound(oid))
	}
	return writeJSON(w, http.StatusOK, u)
}

func (a *API) patchUser(w http.ResponseWriter, r *http.Request) error {
	oid := r.PathValue("oid")
	var b userPatch
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	var p store.UserPatch
	if b.Email != nil {
		if err := validEmail(*b.Email); err != nil {
			return err
		}
		p.Email = b.Email
	}
	if b.DisplayName != nil {
		if err := validText("display_name", *b.DisplayName, maxDisplayNameLen); err != nil {
			return err
		}
		p.DisplayName = b.DisplayName
	}
	if b.Role != nil {
		if *b.Role == "" {
			return apierror.InvalidRequest("role", "'role' must be \"admin\" or \"user\".")
		}
		role, err := parseRole(*b.Role)
		if err != nil {
			return err
		}
		p.Role = &role
	}
	p.Active = b.Active
	if p == (store.UserPatch{}) {
		return apierror.InvalidRequest("", "Send at least one of 'email', 'display_name', 'role', 'is_active'.")
	}
	if oid == principal(r).UserOID && (p.Role != nil && *p.Role != store.RoleAdmin || p.Active != nil && !*p.Active) {
		return selfLockout()
	}
	before, err := a.liveUser(r, oid)
	if err != nil {
		return err
	}
	after, err := a.store.UpdateUser(r.Context(), oid, p)
	if err != nil {
		return ifNotFound(err, userNotFound(oid))
	}
	a.publish(r, events.UserChanged, oid)
	a.audit(r, "user.update", "user", oid, before, after)
	return writeJSON(w, http.StatusOK, after)
}

// deleteUser soft-deletes: the user and all its keys are deactivated.
func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) error {
	oid := r.PathValue("oid")
	if oid == principal(r).UserOID {
		return selfLockout()
	}
	before, err := a.liveUser(r, oid)
	if err != nil {
		return err
	}
	if err := a.store.DeleteUser(r.Context(), oid); err != nil {
		return ifNotFound(err, userNotFound(oid))
	}
	a.publish(r, events.UserChanged, oid)
	a.audit(r, "user.delete", "user", oid, before, nil)
	return noContent(w)
}
