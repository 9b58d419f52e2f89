package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/antigravity/gateway/internal/store"
)

// Apps follows the specification's DDL: TIMESTAMP (no zone) columns, which the
// store writes and reads as UTC, and nullable description and is_active.
const appCols = `app_id, name, COALESCE(description, ''), owner_id, COALESCE(is_active, TRUE),
	created_at, updated_at`

func scanApp(r rowScanner) (store.App, error) {
	var a store.App
	err := r.Scan(&a.AppID, &a.Name, &a.Description, &a.OwnerID, &a.IsActive, &a.CreatedAt, &a.UpdatedAt)
	fixTime(&a.CreatedAt)
	fixTime(&a.UpdatedAt)
	return a, err
}

// CreateApp stores a; CreatedAt and UpdatedAt are assigned. ErrReferenced if
// the owner does not exist or is deleted, ErrConflict if the id is taken.
func (s *Store) CreateApp(ctx context.Context, a store.App) (store.App, error) {
	what := fmt.Sprintf("postgres: create app %q", a.AppID)
	if a.AppID == "" {
		return store.App{}, errors.New("postgres: create app: empty app_id")
	}
	t := now()
	a.CreatedAt, a.UpdatedAt = t, t
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO Apps (app_id, name, description, owner_id, is_active, created_at, updated_at)
		SELECT $1::varchar, $2::varchar, $3::text, $4::varchar, $5::boolean, $6::timestamp, $6::timestamp
		WHERE EXISTS (SELECT 1 FROM Users WHERE oid = $4 AND deleted_at IS NULL)`,
		a.AppID, a.Name, a.Description, a.OwnerID, a.IsActive, t)
	if err != nil {
		return store.App{}, mapErr(err, what)
	}
	if tag.RowsAffected() == 0 {
		return store.App{}, fmt.Errorf("%s: owner %q: %w", what, a.OwnerID, store.ErrReferenced)
	}
	return a, nil
}

// GetApp returns one app.
func (s *Store) GetApp(ctx context.Context, appID string) (store.App, error) {
	a, err := scanApp(s.pool.QueryRow(ctx, `SELECT `+appCols+` FROM Apps WHERE app_id = $1`, appID))
	if err != nil {
		return store.App{}, mapErr(err, fmt.Sprintf("postgres: get app %q", appID))
	}
	return a, nil
}

// ListApps lists apps by app_id.
func (s *Store) ListApps(ctx context.Context, p store.Page) ([]store.App, error) {
	p = p.Normalized()
	rows, err := s.pool.Query(ctx,
		`SELECT `+appCols+` FROM Apps ORDER BY app_id LIMIT $1 OFFSET $2`, p.Limit, p.Offset)
	if err != nil {
		return nil, mapErr(err, "postgres: list apps")
	}
	out, err := collect(rows, scanApp)
	return out, mapErr(err, "postgres: list apps")
}

// SetAppActive enables or disables an app.
func (s *Store) SetAppActive(ctx context.Context, appID string, active bool) (store.App, error) {
	a, err := scanApp(s.pool.QueryRow(ctx, `
		UPDATE Apps SET is_active = $1, updated_at = $2 WHERE app_id = $3 RETURNING `+appCols,
		active, now(), appID))
	if err != nil {
		return store.App{}, mapErr(err, fmt.Sprintf("postgres: set app %q active", appID))
	}
	return a, nil
}

// DeleteApp removes an app (usage rows keep its id as a logical reference).
func (s *Store) DeleteApp(ctx context.Context, appID string) error {
	return s.execOne(ctx, fmt.Sprintf("postgres: delete app %q", appID),
		`DELETE FROM Apps WHERE app_id = $1`, appID)
}
