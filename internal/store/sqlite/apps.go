package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/antigravity/gateway/internal/store"
)

const appCols = `app_id, name, COALESCE(description, ''), owner_id, COALESCE(is_active, 1),
	created_at, updated_at`

func scanApp(r rowScanner) (store.App, error) {
	var a store.App
	err := r.Scan(&a.AppID, &a.Name, &a.Description, &a.OwnerID, &a.IsActive,
		timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	return a, err
}

// CreateApp stores a; CreatedAt and UpdatedAt are assigned. ErrReferenced if
// the owner does not exist or is deleted, ErrConflict if the id is taken.
func (s *Store) CreateApp(ctx context.Context, a store.App) (store.App, error) {
	what := fmt.Sprintf("sqlite: create app %q", a.AppID)
	if a.AppID == "" {
		return store.App{}, errors.New("sqlite: create app: empty app_id")
	}
	t := now()
	a.CreatedAt, a.UpdatedAt = t, t
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO Apps (app_id, name, description, owner_id, is_active, created_at, updated_at)
		SELECT ?, ?, ?, ?, ?, ?, ?
		WHERE EXISTS (SELECT 1 FROM Users WHERE oid = ? AND deleted_at IS NULL)`,
		a.AppID, a.Name, a.Description, a.OwnerID, a.IsActive, fmtTime(t), fmtTime(t), a.OwnerID)
	if err != nil {
		return store.App{}, mapErr(err, what)
	}
	if n, err := res.RowsAffected(); err != nil {
		return store.App{}, mapErr(err, what)
	} else if n == 0 {
		return store.App{}, fmt.Errorf("%s: owner %q: %w", what, a.OwnerID, store.ErrReferenced)
	}
	return a, nil
}

// GetApp returns one app.
func (s *Store) GetApp(ctx context.Context, appID string) (store.App, error) {
	a, err := scanApp(s.db.QueryRowContext(ctx, `SELECT `+appCols+` FROM Apps WHERE app_id = ?`, appID))
	if err != nil {
		return store.App{}, mapErr(err, fmt.Sprintf("sqlite: get app %q", appID))
	}
	return a, nil
}

// ListApps lists apps by app_id.
func (s *Store) ListApps(ctx context.Context, p store.Page) ([]store.App, error) {
	p = p.Normalized()
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+appCols+` FROM Apps ORDER BY app_id LIMIT ? OFFSET ?`, p.Limit, p.Offset)
	if err != nil {
		return nil, mapErr(err, "sqlite: list apps")
	}
	defer rows.Close()
	out := []store.App{}
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, mapErr(err, "sqlite: list apps")
		}
		out = append(out, a)
	}
	return out, mapErr(rows.Err(), "sqlite: list apps")
}

// SetAppActive enables or disables an app.
func (s *Store) SetAppActive(ctx context.Context, appID string, active bool) (store.App, error) {
	a, err := scanApp(s.db.QueryRowContext(ctx, `
		UPDATE Apps SET is_active = ?, updated_at = ? WHERE app_id = ? RETURNING `+appCols,
		active, fmtTime(now()), appID))
	if err != nil {
		return store.App{}, mapErr(err, fmt.Sprintf("sqlite: set app %q active", appID))
	}
	return a, nil
}

// DeleteApp removes an app (usage rows keep its id as a logical reference).
func (s *Store) DeleteApp(ctx context.Context, appID string) error {
	return deleteOne(ctx, s.db, fmt.Sprintf("sqlite: delete app %q", appID),
		`DELETE FROM Apps WHERE app_id = ?`, appID)
}
