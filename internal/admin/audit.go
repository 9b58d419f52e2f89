package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// audit records one change made by the request's admin. before and after are
// snapshots (nil: none) and must be views without secrets: the key plaintext and
// hash and upstream credentials never reach them. The change is already
// committed when audit runs, so a failed insert is logged rather than reported
// to the caller as a failed change.
func (a *API) audit(r *http.Request, action, targetType, target string, before, after any) {
	e := store.AuditEntry{
		Time:       a.now().UTC(),
		Action:     action,
		TargetType: targetType,
		Target:     target,
		Before:     snapshot(before),
		After:      snapshot(after),
		ClientAddr: clientHost(r),
	}
	if p := principal(r); p != nil {
		e.Actor = p.UserOID
	}
	// The insert must happen even if the caller goes away mid-request.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	if _, err := a.store.InsertAudit(ctx, e); err != nil {
		a.log.Error("admin: writing audit row failed", "action", action, "target", target, "actor", e.Actor, "err", err)
	}
}

func snapshot(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// publish tells every replica about a change; a failure is logged (cached
// verdicts then live until their TTL).
func (a *API) publish(r *http.Request, kind, id string) {
	if a.bus == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := a.bus.Publish(ctx, events.Event{Kind: kind, ID: id}); err != nil {
		a.log.Warn("admin: publishing invalidation failed", "kind", kind, "id", id, "err", err)
	}
}

// listAudit serves GET /admin/api/audit.
func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{
		Actor:      q.Get("actor"),
		Action:     q.Get("action"),
		TargetType: q.Get("target_type"),
		Target:     q.Get("target"),
	}
	if f.Since, err = queryTime(r, "since"); err != nil {
		return err
	}
	if f.Until, err = queryTime(r, "until"); err != nil {
		return err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return apierror.InvalidRequest("until", "'until' must not be before 'since'.")
	}
	rows, more, err := fetchPage(p, func(pg store.Page) ([]store.AuditEntry, error) {
		f.Page = pg
		return a.store.ListAudit(r.Context(), f)
	})
	if err != nil {
		return err
	}
	return writeList(w, rows, more)
}

// queryTime parses an optional RFC 3339 query parameter.
func queryTime(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, apierror.InvalidRequest(name, "'"+name+"' must be an RFC 3339 time such as 2025-01-31T00:00:00Z.")
	}
	return t, nil
}
