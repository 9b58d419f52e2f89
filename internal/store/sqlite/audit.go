package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/antigravity/gateway/internal/store"
)

// rawJSON scans a nullable JSON text column (NULL: nil).
type rawJSON struct{ dst *json.RawMessage }

func (j rawJSON) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*j.dst = nil
	case string:
		*j.dst = json.RawMessage(v)
	case []byte:
		*j.dst = append(json.RawMessage(nil), v...)
	default:
		return fmt.Errorf("sqlite: cannot read %T as JSON", src)
	}
	return nil
}

// jsonArg validates a JSON document and returns its stored form (NULL when empty).
func jsonArg(m json.RawMessage) (any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	if !json.Valid(m) {
		return nil, fmt.Errorf("invalid JSON %.40q", m)
	}
	return string(m), nil
}

// InsertAudit appends an entry; ID is assigned and Time defaults to now.
func (s *Store) InsertAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	before, err := jsonArg(e.Before)
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("sqlite: insert audit: before: %w", err)
	}
	after, err := jsonArg(e.After)
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("sqlite: insert audit: after: %w", err)
	}
	if e.Time.IsZero() {
		e.Time = now()
	}
	e.Time = norm(e.Time)
	err = s.db.QueryRowContext(ctx, `
		INSERT INTO AuditLogs (created_at, actor, action, target_type, target,
			before_json, after_json, client_addr)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		fmtTime(e.Time), e.Actor, e.Action, e.TargetType, e.Target, before, after, e.ClientAddr).
		Scan(&e.ID)
	if err != nil {
		return store.AuditEntry{}, mapErr(err, "sqlite: insert audit")
	}
	return e, nil
}

// ListAudit lists entries matching f, newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var w where
	if f.Actor != "" {
		w.add("actor = ?", f.Actor)
	}
	if f.Action != "" {
		w.add("action = ?", f.Action)
	}
	if f.TargetType != "" {
		w.add("target_type = ?", f.TargetType)
	}
	if f.Target != "" {
		w.add("target = ?", f.Target)
	}
	if !f.Since.IsZero() {
		w.add("created_at >= ?", fmtTime(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("created_at < ?", fmtTime(f.Until))
	}
	p := f.Page.Normalized()
	rows, err := s.db.QueryContext(ctx, `
		SELECT id, created_at, actor, action, target_type, target, before_json, after_json, client_addr
		FROM AuditLogs`+w.String()+`
		ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
		append(w.args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, mapErr(err, "sqlite: list audit")
	}
	defer rows.Close()
	out := []store.AuditEntry{}
	for rows.Next() {
		var e store.AuditEntry
		if err := rows.Scan(&e.ID, timeCol{&e.Time}, &e.Actor, &e.Action, &e.TargetType, &e.Target,
			rawJSON{&e.Before}, rawJSON{&e.After}, &e.ClientAddr); err != nil {
			return nil, mapErr(err, "sqlite: list audit")
		}
		out = append(out, e)
	}
	return out, mapErr(rows.Err(), "sqlite: list audit")
}
