package delegation

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/store"
)

// Resolver decides who a request is billed to. It is safe for concurrent use.
type Resolver struct {
	dir Directory
	// secretSum is the SHA-256 of GATEWAY_SHARED_SECRET; nil when the
	// shared-secret route is off. Comparing digests keeps the comparison
	// constant-time whatever the length of the presented secret.
	secretSum *[sha256.Size]byte
}

// NewResolver returns a resolver looking ids up in dir. sharedSecret is
// GATEWAY_SHARED_SECRET; empty turns the shared-secret route off.
func NewResolver(dir Directory, sharedSecret string) *Resolver {
	r := &Resolver{dir: dir}
	if sharedSecret != "" {
		sum := sha256.Sum256([]byte(sharedSecret))
		r.secretSum = &sum
	}
	return r
}

// UsesSharedSecret reports whether a request takes the shared-secret route: it
// carries an X-Gateway-Secret header (even an empty one, which is then refused
// as a wrong secret rather than silently falling back to API-key checks). Such
// a request needs no API key; the proxy should call Resolve without
// authenticating one.
func UsesSharedSecret(h http.Header) bool { return len(h.Values(HeaderSecret)) > 0 }

// Resolve decides who is billed for a request and removes every trace of the
// delegation from in.Query and in.Fields (rewriting "messages" when method A
// matched). Requests for which UsesSharedSecret holds take the shared-secret
// route (spec §3.2) and in.Principal is ignored; all others need in.Principal.
//
// On the API-key route the pair is read from four places, highest priority
// first: URL query, top-level body fields, JSON embedded in user messages,
// X-User-Oid / X-App-Id headers. Every place that gives anything must give a
// valid, complete pair (else 400 / 401), even when a higher place wins; the
// highest place decides. The app must exist, be owned by the key's owner (or
// the key must belong to an admin) and be active; the user must exist and be
// active (else 403). Without delegation the key's owner is billed.
func (r *Resolver) Resolve(ctx context.Context, in Input) (Result, error) {
	if UsesSharedSecret(in.Header) {
		return r.sharedSecret(ctx, in)
	}
	p := in.Principal
	if p == nil {
		return Result{}, apierror.InvalidAPIKey("Missing API key. Send it as 'Authorization: Bearer sk-gate-…'.")
	}
	var res Result
	type place struct {
		m     Method
		where string
		ids   IDs
		err   *apierror.Error
	}
	places := make([]place, 0, 4)

	ids, changed, qerr := fromQuery(in.Query)
	res.QueryChanged = changed
	places = append(places, place{m: MethodQuery, ids: ids, err: qerr})

	ids, changed, berr := fromBody(in.Fields)
	res.BodyChanged = changed
	places = append(places, place{m: MethodBody, ids: ids, err: berr})

	if raw, ok := in.Fields["messages"]; ok {
		rw, err := RewriteMessages(raw)
		if rw.Changed && err == nil {
			in.Fields["messages"] = rw.Messages
			res.BodyChanged = true
		}
		pl := place{m: MethodMessage, where: rw.Where, ids: rw.IDs}
		if err != nil {
			pl.err = apierror.As(err)
		}
		places = append(places, pl)
	}

	ids, herr := fromHeaders(in.Header)
	places = append(places, place{m: MethodHeader, ids: ids, err: herr})

	for _, pl := range places {
		if pl.err != nil {
			return Result{}, pl.err
		}
	}
	var win *place
	for i := range places {
		pl := &places[i]
		if pl.ids.Empty() {
			continue
		}
		if pl.ids.UserOID == "" || pl.ids.AppID == "" {
			return Result{}, incomplete(pl.m, pl.where, pl.ids)
		}
		if win == nil {
			win = pl
		}
	}
	keyID := p.KeyID
	res.KeyID = &keyID
	if win == nil {
		res.UserOID, res.Method = p.UserOID, MethodKey
		return res, nil
	}
	app, err := r.app(ctx, win.m, win.where, win.ids.AppID, p)
	if err != nil {
		return Result{}, err
	}
	if err := r.user(ctx, win.m, win.where, win.ids.UserOID); err != nil {
		return Result{}, err
	}
	res.UserOID, res.AppID, res.Method = win.ids.UserOID, &app.AppID, win.m
	return res, nil
}

// sharedSecret is spec §3.2: only the X-Gateway-Secret, X-App-Id and X-User-Oid
// headers count. x_user_oid / x_app_id given in the query or the body are not
// honoured but removed so they never reach the provider; message content is
// end-user text on this route and is left alone.
func (r *Resolver) sharedSecret(ctx context.Context, in Input) (Result, error) {
	const m = MethodSharedSecret
	if r.secretSum == nil {
		return Result{}, unauthorized(CodeSecretDisabled, "", "The request carries X-Gateway-Secret, but the "+
			"shared-secret route is disabled on this gateway (GATEWAY_SHARED_SECRET is not set). Authenticate with "+
			"an API key instead, or ask the operator to set GATEWAY_SHARED_SECRET.")
	}
	vals := in.Header.Values(HeaderSecret)
	given := sha256.Sum256([]byte(vals[0]))
	if len(vals) != 1 || subtle.ConstantTimeCompare(given[:], r.secretSum[:]) != 1 {
		return Result{}, unauthorized(CodeInvalidSecret, "", "Invalid gateway secret: X-Gateway-Secret does not "+
			"match GATEWAY_SHARED_SECRET.")
	}
	appID := in.Header.Get(HeaderAppID)
	if appID == "" {
		return Result{}, unauthorized(CodeMissingAppID, HeaderAppID, "Missing X-App-Id header: the shared-secret "+
			"route needs the id of a registered app.")
	}
	app, err := r.app(ctx, m, "", appID, nil)
	if err != nil {
		return Result{}, err
	}
	userOID := in.Header.Get(HeaderUserOID)
	if userOID == "" {
		return Result{}, unauthorized(CodeMissingUserOID, HeaderUserOID, "Missing X-User-Oid header: the "+
			"shared-secret route needs the oid of the end user to bill.")
	}
	if err := r.user(ctx, m, "", userOID); err != nil {
		return Result{}, err
	}
	res := Result{UserOID: userOID, AppID: &app.AppID, Method: m}
	res.QueryChanged, res.BodyChanged = stripParams(in)
	return res, nil
}

// app checks the named app: it exists, the key may use it (p nil: no key to
// check) and it is active.
func (r *Resolver) app(ctx context.Context, m Method, where, appID string, p *auth.Principal) (store.App, error) {
	_, param := m.paramNames()
	pre := prefix(m, where)
	var app store.App
	err := store.ErrNotFound
	if len(appID) <= MaxAppIDLen {
		app, err = r.dir.App(ctx, appID)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return app, forbidden(CodeAppNotFound, param, pre+"the app "+quoteID(appID)+" named by '"+param+
			"' is not registered. Register it with POST /admin/api/apps or correct the id.")
	case err != nil:
		return app, unavailable(err)
	case p != nil && !p.IsAdmin() && app.OwnerID != p.UserOID:
		return app, forbidden(CodeAppNotOwned, param, pre+"the app "+quoteID(appID)+" is not owned by the user of "+
			"this API key; a key may delegate only through apps its owner owns. Use a key of the app's owner.")
	case !app.IsActive:
		return app, forbidden(CodeAppDisabled, param, pre+"the app "+quoteID(appID)+" is disabled. An admin can "+
			"enable it with PATCH /admin/api/apps/"+appID+"/toggle.")
	}
	return app, nil
}

// user checks the named user exists and is active.
func (r *Resolver) user(ctx context.Context, m Method, where, oid string) error {
	param, _ := m.paramNames()
	pre := prefix(m, where)
	var u store.User
	err := store.ErrNotFound
	if len(oid) <= MaxUserOIDLen {
		u, err = r.dir.User(ctx, oid)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return forbidden(CodeUserNotFound, param, pre+"the user "+quoteID(oid)+" named by '"+param+
			"' is not registered. Create the user first or correct the oid.")
	case err != nil:
		return unavailable(err)
	case !u.Active || u.DeletedAt != nil:
		return forbidden(CodeUserInactive, param, pre+"the user "+quoteID(oid)+" named by '"+param+
			"' is deactivated or deleted and cannot be billed.")
	}
	return nil
}

func unavailable(cause error) *apierror.Error {
	e := apierror.Unavailable(CodeDirectoryFailure, "The gateway cannot check the delegation right now; retry shortly.")
	e.Cause = cause
	return e
}
