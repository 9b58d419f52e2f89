package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/antigravity/gateway/internal/store"
)

const userCols = `oid, email, display_name, role, is_active, created_at, updated_at, deleted_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanUser(r rowScanner) (store.User, error) {
	var u store.User
	err := r.Scan(&u.OID, &u.Email, &u.DisplayName, &u.Role, &u.Active,
		timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}, nullTimeCol{&u.DeletedAt})
	return u, err
}

// CreateUser stores u; CreatedAt and UpdatedAt are assigned, an empty role
// becomes "user". ErrConflict if the oid exists (deleted users included).
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	if u.OID == "" {
		return store.User{}, errors.New("sqlite: create user: empty oid")
	}
	if u.Role == "" {
		u.Role = store.RoleUser
	}
	if !u.Role.Valid() {
		return store.User{}, fmt.Errorf("sqlite: create user: invalid role %q", u.Role)
	}
	t := now()
	u.CreatedAt, u.UpdatedAt, u.DeletedAt = t, t, nil
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO Users (oid, email, display_name, role, is_active, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.OID, u.Email, u.DisplayName, string(u.Role), u.Active, fmtTime(t), fmtTime(t))
	if err != nil {
		return store.User{}, mapErr(err, fmt.Sprintf("sqlite: create user %q", u.OID))
	}
	return u, nil
}

// GetUser returns the user, soft-deleted or not (DeletedAt tells).
func (s *Store) GetUser(ctx context.Context, oid string) (store.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx,
		`SELECT `+userCols+` FROM Users WHERE oid = ?`, oid))
	if err != nil {
		return store.User{}, mapErr(err, fmt.Sprintf("sqlite: get user %q", oid))
	}
	return u, nil
}

// ListUsers lists the users that are not deleted, by oid.
func (s *Store) ListUsers(ctx context.Context, p store.Page) ([]store.User, error) {
	p = p.Normalized()
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+userCols+` FROM Users WHERE deleted_at IS NULL
		ORDER BY oid LIMIT ? OFFSET ?`, p.Limit, p.Offset)
	if err != nil {
		return nil, mapErr(err, "sqlite: list users")
	}
	defer rows.Close()
	out := []store.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, mapErr(err, "sqlite: list users")
		}
		out = append(out, u)
	}
	return out, mapErr(rows.Err(), "sqlite: list users")
}

// UpdateUser changes the non-nil fields of a user that is not deleted.
func (s *Store) UpdateUser(ctx context.Context, oid string, p store.UserPatch) (store.User, error) {
	what := fmt.Sprintf("sqlite: update user %q", oid)
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
	var row *sql.Row
	if set.empty() {
		row = s.db.QueryRowContext(ctx,
			`SELECT `+userCols+` FROM Users WHERE oid = ? AND deleted_at IS NULL`, oid)
	} else {
		set.add("updated_at", fmtTime(now()))
		row = s.db.QueryRowContext(ctx,
			`UPDATE Users SET `+set.String()+` WHERE oid = ? AND deleted_at IS NULL
			RETURNING `+userCols, append(set.args, oid)...)
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
	what := fmt.Sprintf("sqlite: delete user %q", oid)
	return mapErr(s.inTx(ctx, func(tx *sql.Tx) error {
		t := fmtTime(now())
		res, err := tx.ExecContext(ctx, `
			UPDATE Users SET deleted_at = ?, is_active = 0, updated_at = ?
			WHERE oid = ? AND deleted_at IS NULL`, t, t, oid)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `UPDATE ApiKeys SET is_active = 0 WHERE user_oid = ?`, oid)
		return err
	}), what)
}
