package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/antigravity/gateway/internal/store"
)

const modelCols = `name, context_window, max_output_tokens, input_price_micros,
	output_price_micros, cached_input_price_micros, routing, is_active, created_at, updated_at`

func scanModel(r rowScanner) (store.Model, error) {
	var m store.Model
	err := r.Scan(&m.Name, &m.ContextWindow, &m.MaxOutputTokens, &m.InputPrice, &m.OutputPrice,
		&m.CachedInputPrice, &m.Routing, &m.Active, timeCol{&m.CreatedAt}, timeCol{&m.UpdatedAt})
	return m, err
}

// CreateModel stores m; CreatedAt and UpdatedAt are assigned. ErrConflict if
// the name is taken.
func (s *Store) CreateModel(ctx context.Context, m store.Model) (store.Model, error) {
	if m.Name == "" {
		return store.Model{}, errors.New("sqlite: create model: empty name")
	}
	t := now()
	m.CreatedAt, m.UpdatedAt = t, t
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO Models (name, context_window, max_output_tokens, input_price_micros,
			output_price_micros, cached_input_price_micros, routing, is_active, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.Name, m.ContextWindow, m.MaxOutputTokens, int64(m.InputPrice), int64(m.OutputPrice),
		int64(m.CachedInputPrice), m.Routing, m.Active, fmtTime(t), fmtTime(t))
	if err != nil {
		return store.Model{}, mapErr(err, fmt.Sprintf("sqlite: create model %q", m.Name))
	}
	return m, nil
}

// GetModel returns one model.
func (s *Store) GetModel(ctx context.Context, name string) (store.Model, error) {
	m, err := scanModel(s.db.QueryRowContext(ctx, `SELECT `+modelCols+` FROM Models WHERE name = ?`, name))
	if err != nil {
		return store.Model{}, mapErr(err, fmt.Sprintf("sqlite: get model %q", name))
	}
	return m, nil
}

// ListModels lists every model by name.
func (s *Store) ListModels(ctx context.Context) ([]store.Model, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+modelCols+` FROM Models ORDER BY name`)
	if err != nil {
		return nil, mapErr(err, "sqlite: list models")
	}
	defer rows.Close()
	out := []store.Model{}
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, mapErr(err, "sqlite: list models")
		}
		out = append(out, m)
	}
	return out, mapErr(rows.Err(), "sqlite: list models")
}

// UpdateModel changes the non-nil fields of a model.
func (s *Store) UpdateModel(ctx context.Context, name string, p store.ModelPatch) (store.Model, error) {
	var set sets
	if p.ContextWindow != nil {
		set.add("context_window", *p.ContextWindow)
	}
	if p.MaxOutputTokens != nil {
		set.add("max_output_tokens", *p.MaxOutputTokens)
	}
	if p.InputPrice != nil {
		set.add("input_price_micros", int64(*p.InputPrice))
	}
	if p.OutputPrice != nil {
		set.add("output_price_micros", int64(*p.OutputPrice))
	}
	if p.CachedInputPrice != nil {
		set.add("cached_input_price_micros", int64(*p.CachedInputPrice))
	}
	if p.Routing != nil {
		set.add("routing", *p.Routing)
	}
	if p.Active != nil {
		set.add("is_active", *p.Active)
	}
	if set.empty() {
		return s.GetModel(ctx, name)
	}
	set.add("updated_at", fmtTime(now()))
	m, err := scanModel(s.db.QueryRowContext(ctx,
		`UPDATE Models SET `+set.String()+` WHERE name = ? RETURNING `+modelCols,
		append(set.args, name)...))
	if err != nil {
		return store.Model{}, mapErr(err, fmt.Sprintf("sqlite: update model %q", name))
	}
	return m, nil
}

// DeleteModel removes the model; its endpoints go with it (ON DELETE CASCADE).
func (s *Store) DeleteModel(ctx context.Context, name string) error {
	return deleteOne(ctx, s.db, fmt.Sprintf("sqlite: delete model %q", name),
		`DELETE FROM Models WHERE name = ?`, name)
}

// deleteOne runs a DELETE and reports ErrNotFound when it removed nothing.
func deleteOne(ctx context.Context, db *sql.DB, what, query string, args ...any) error {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return mapErr(err, what)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(err, what)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}
