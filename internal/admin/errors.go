package admin

import (
	"errors"
	"net/http"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/store"
)

// toAPIError maps any handler error to the error rendered: API errors pass
// through, store sentinels that no handler mapped more precisely get a generic
// status, and everything else is a 500 that does not leak internals.
func toAPIError(err error) *apierror.Error {
	var e *apierror.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, store.ErrNotFound):
		return apierror.NotFound("The requested resource was")
	case errors.Is(err, store.ErrConflict):
		return apierror.Conflict("The resource already exists.")
	case errors.Is(err, store.ErrReferenced):
		return apierror.Conflict("The change refers to a row that does not exist or is still in use.")
	}
	return apierror.Internal(err)
}

// ifNotFound returns e when err is store.ErrNotFound, else err.
func ifNotFound(err error, e *apierror.Error) error {
	if errors.Is(err, store.ErrNotFound) {
		return e
	}
	return err
}

// userNotFound is the 404 of an unknown (or deleted) user.
func userNotFound(oid string) *apierror.Error {
	return apierror.NotFound("User '" + oid + "' was")
}

// selfLockout refuses a change that would leave the calling admin without admin
// access.
func selfLockout() *apierror.Error {
	return &apierror.Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "self_lockout",
		Message: "You cannot delete, deactivate or demote your own user; ask another admin."}
}
