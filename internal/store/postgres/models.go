package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

const modelCols = `name, context_window, max_output_tokens, input_price_micros,
	output_price_micros, cached_input_price_micros, routing, is_active, created_at, updated_at`

func scanModel(r rowScanner) (store.Model, error) {
	var m store.Model
	var in, out, cached int64
	err := r.Scan(&m.Name, &m.ContextWindow, &m.MaxOutputTokens, &in, &out, &cached,
		&m.Routing, &m.Active, &m.CreatedAt, &m.UpdatedAt)
	m.InputPrice, m.OutputPrice, m.CachedInputPrice = money.Micros(in), money.Micros(out), money.Micros(cached)
	fixTime(&m.CreatedAt)
	fixTime(&m.UpdatedAt)
	return m, err
}

// CreateModel stores m; CreatedAt and UpdatedAt are assigned. ErrConflict if
// the name is taken.
func (s *Store) CreateModel(ctx context.Context, m store.Model) (store.Model, error) {
	if m.Name == "" {
		return store.Model{}, errors.New("postgres: create model: empty name")
	}
	t := now()
	m.CreatedAt, m.UpdatedAt = t, t
	_, err := s.pool.Exec(ctx, `
		INSERT INTO Models (name, context_window, max_output_tokens, input_price_micros,
			output_price_micros, cached_input_price_micros, routing, is_active, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
		m.Name, m.ContextWindow, m.MaxOutputTokens, int64(m.InputPrice), int64(m.OutputPrice),
		int64(m.CachedInputPrice), m.Routing, m.Active, t)
	if err != nil {
		return store.Model{}, mapErr(err, fmt.Sprintf("postgres: create model %q", m.Name))
	}
	return m, nil
}

// GetModel returns one model.
func (s *Store) GetModel(ctx context.Context, name string) (store.Model, error) {
	m, err := scanModel(s.pool.QueryRow(ctx, `SELECT `+modelCols+` FROM Models WHERE name = $1`, name))
	if err != nil {
		return store.Model{}, mapErr(err, fmt.Sprintf("postgres: get model %q", name))
	}
	return m, nil
}

// ListModels lists every model by name.
func (s *Store) ListModels(ctx context.Context) ([]store.Model, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+modelCols+` FROM Models ORDER BY name`)
	if err != nil {
		return nil, mapErr(err, "postgres: list models")
	}
	out, err := collect(rows, scanModel)
	return out, mapErr(err, "postgres: list models")
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
	set.add("updated_at", now())
	m, err := scanModel(s.pool.QueryRow(ctx, `UPDATE Models SET `+set.String()+
		` WHERE name = `+set.args.add(name)+` RETURNING `+modelCols, set.args...))
	if err != nil {
		return store.Model{}, mapErr(err, fmt.Sprintf("postgres: update model %q", name))
	}
	return m, nil
}

// DeleteModel removes the model; its endpoints go with it (ON DELETE CASCADE).
func (s *Store) DeleteModel(ctx context.Context, name string) error {
	return s.execOne(ctx, fmt.Sprintf("postgres: delete model %q", name),
		`DELETE FROM Models WHERE name = $1`, name)
}
