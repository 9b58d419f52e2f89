package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/antigravity/gateway/internal/store"
)

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

// InsertAudit appends an entry; ID is assigned and Time defaults to now. The
// JSON documents are stored as JSONB (spacing and key order are not kept).
func (s *Store) InsertAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	before, err := jsonArg(e.Before)
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("postgres: insert audit: before: %w", err)
	}
	after, err := jsonArg(e.After)
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("postgres: insert audit: after: %w", err)
	}
	if e.Time.IsZero() {
		e.Time = now()
	}
	e.Time = norm(e.Time)
	err = s.pool.QueryRow(ctx, `
		INSERT INTO AuditLogs (created_at, actor, action, target_type, target,
			before_json, after_json, client_addr)
		VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8) RETURNING id`,
		e.Time, e.Actor, e.Action, e.TargetType, e.Target, before, after, e.ClientAddr).Scan(&e.ID)
	if err != nil {
		return store.AuditEntry{}, mapErr(err, "postgres: insert audit")
	}
	return e, nil
}

func scanAudit(r rowScanner) (store.AuditEntry, error) {
	var e store.AuditEntry
	var before, after []byte
	err := r.Scan(&e.ID, &e.Time, &e.Actor, &e.Action, &e.TargetType, &e.Target,
		&before, &after, &e.ClientAddr)
	if before != nil {
		e.Before = json.RawMessage(before)
	}
	if after != nil {
		e.After = json.RawMessage(after)
	}
	fixTime(&e.Time)
	return e, err
}

// ListAudit lists entries matching f, newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var w where
	var args params
	if f.Actor != "" {
		w.add("actor = " + args.add(f.Actor))
	}
	if f.Action != "" {
		w.add("action = " + args.add(f.Action))
	}
	if f.TargetType != "" {
		w.add("target_type = " + args.add(f.TargetType))
	}
	if f.Target != "" {
		w.add("target = " + args.add(f.Target))
	}
	if !f.Since.IsZero() {
		w.add("created_at >= " + args.add(norm(f.Since)))
	}
	if !f.Until.IsZero() {
		w.add("created_at < " + args.add(norm(f.Until)))
	}
	p := f.Page.Normalized()
	rows, err := s.pool.Query(ctx, `
		SELECT id, created_at, actor, action, target_type, target, before_json, after_json, client_addr
		FROM AuditLogs`+w.String()+`
		ORDER BY created_at DESC, id DESC LIMIT `+args.add(p.Limit)+` OFFSET `+args.add(p.Offset),
		args...)
	if err != nil {
		return nil, mapErr(err, "postgres: list audit")
	}
	out, err := collect(rows, scanAudit)
	return out, mapErr(err, "postgres: list audit")
}
