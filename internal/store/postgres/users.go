package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/antigravity/gateway/internal/store"
)

const userCols = `oid, email, display_name, role, is_active, created_at, updated_at, deleted_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanUser(r rowScanner) (store.User, error) {
	var u store.User
	var role string
	err := r.Scan(&u.OID, &u.Email, &u.DisplayName, &role, &u.Active,
		&u.CreatedAt, &u.UpdatedAt, &u.DeletedAt)
	u.Role = store.Role(role)
	fixTime(&u.CreatedAt)
	fixTime(&u.UpdatedAt)
	fixTimePtr(&u.DeletedAt)
	return u, err
}

// CreateUser stores u; CreatedAt and UpdatedAt are assigned, an empty role
// becomes "user". ErrConflict if the oid exists (deleted users included).
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	if u.OID == "" {
		return store.User{}, errors.New("postgres: create user: empty oid")
	}
	if u.Role == "" {
		u.Role = store.RoleUser
	}
	if !u.Role.Valid() {
		return store.User{}, fmt.Errorf("postgres: create user: invalid role %q", u.Role)
	}
	t := now()
	u.CreatedAt, u.UpdatedAt, u.DeletedAt = t, t, nil
	_, err := s.pool.Exec(ctx, `
		INSERT INTO Users (oid, email, display_name, role, is_active, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`,
		u.OID, u.Email, u.DisplayName, string(u.Role), u.Active, t)
	if err != nil {
		return store.User{}, mapErr(err, fmt.Sprintf("postgres: create user %q", u.OID))
	}
	return u, nil
}

// GetUser returns the user, soft-deleted or not (DeletedAt tells).
func (s *Store) GetUser(ctx context.Context, oid string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM Users WHERE oid = $1`, oid))
	if err != nil {
		return store.User{}, mapErr(err, fmt.Sprintf("postgres: get user %q", oid))
	}
	return u, nil
}

// ListUsers lists the users that are not deleted, by oid.
func (s *Store) ListUsers(ctx context.Context, p store.Page) ([]store.User, error) {
	p = p.Normalized()
	rows, err := s.pool.Query(ctx, `
		SELECT `+userCols+` FROM Users WHERE deleted_at IS NULL
		ORDER BY oid LIMIT $1 OFFSET $2`, p.Limit, p.Offset)
	if err != nil {
		return nil, mapErr(err, "postgres: list users")
	}
	out, err := collect(rows, scanUser)
	return out, mapErr(err, "postgres: list users")
}

// UpdateUser changes the non-nil fields of a user that is not deleted.
func (s *Store) UpdateUser(ctx context.Context, oid string, p store.UserPatch) (store.User, error) {
	what := fmt.Sprintf("postgres: update user %q", oid)
	var set sets
	if p.Email != nil {
		set.add("email", *p.Email)
	}
	if p.DisplayName != nil {
		set.add("display_name", *p.DisplayName)
	}
	if p.Role != nil {
		if !p.Role.Valid() {
			return store.User{}, fmt.Errorf("%s: invalid role %q", what, *p.Role)
		}
		set.add("role", string(*p.Role))
	}
	if p.Active != nil {
		set.add("is_active", *p.Active)
	}
	var row pgx.Row
	if set.empty() {
		row = s.pool.QueryRow(ctx,
			`SELECT `+userCols+` FROM Users WHERE oid = $1 AND deleted_at IS NULL`, oid)
	} else {
		set.add("updated_at", now())
		row = s.pool.QueryRow(ctx, `UPDATE Users SET `+set.String()+
			` WHERE oid = `+set.args.add(oid)+` AND deleted_at IS NULL RETURNING `+userCols,
			set.args...)
	}
	u, err := scanUser(row)
	if err != nil {
		return store.User{}, mapErr(err, what)
	}
	return u, nil
}

// DeleteUser soft-deletes the user and deactivates every key of the user, in
// one transaction. ErrNotFound if the user does not exist or is already deleted.
func (s *Store) DeleteUser(ctx context.Context, oid string) error {
	what := fmt.Sprintf("postgres: delete user %q", oid)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t := now()
		tag, err := tx.Exec(ctx, `
			UPDATE Users SET deleted_at = $1, is_active = FALSE, updated_at = $1
			WHERE oid = $2 AND deleted_at IS NULL`, t, oid)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		_, err = tx.Exec(ctx, `UPDATE ApiKeys SET is_active = FALSE WHERE user_oid = $1`, oid)
		return err
	})
	return mapErr(err, what)
}

// collect scans every row with scan, returning a non-nil slice.
func collect[T any](rows pgx.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
