package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

const keyCols = `k.id, k.user_oid, k.key_hash, k.prefix, k.name, k.expires_at, k.is_active,
	k.last_used_at, k.allowed_models, k.created_at`

// modelList scans the JSON text of allowed_models (NULL: nil).
type modelList struct{ dst *[]string }

func (m modelList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*m.dst = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("sqlite: cannot read %T as allowed_models", src)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("sqlite: bad allowed_models %q: %w", b, err)
	}
	if len(out) == 0 {
		out = nil
	}
	*m.dst = out
	return nil
}

// encodeModels returns the stored form of an allowed-models list: NULL when
// empty (every model), else a JSON array.
func encodeModels(ms []string) (any, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(ms)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func keyDest(k *store.APIKey) []any {
	return []any{&k.ID, &k.UserOID, &k.Hash, &k.Prefix, &k.Name, nullTimeCol{&k.ExpiresAt},
		&k.Active, nullTimeCol{&k.LastUsedAt}, modelList{&k.AllowedModels}, timeCol{&k.CreatedAt}}
}

// CreateKey stores k; ID and CreatedAt are assigned. ErrReferenced if the user
// does not exist or is deleted; ErrConflict if the hash is taken.
func (s *Store) CreateKey(ctx context.Context, k store.APIKey) (store.APIKey, error) {
	what := fmt.Sprintf("sqlite: create key for user %q", k.UserOID)
	models, err := encodeModels(k.AllowedModels)
	if err != nil {
		return store.APIKey{}, fmt.Errorf("%s: %w", what, err)
	}
	k.CreatedAt = now()
	k.ExpiresAt, k.LastUsedAt = normPtr(k.ExpiresAt), normPtr(k.LastUsedAt)
	if len(k.AllowedModels) == 0 {
		k.AllowedModels = nil
	}
	err = s.db.QueryRowContext(ctx, `
		INSERT INTO ApiKeys (user_oid, key_hash, prefix, name, expires_at, is_active,
			last_used_at, allowed_models, created_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?
		WHERE EXISTS (SELECT 1 FROM Users WHERE oid = ? AND deleted_at IS NULL)
		RETURNING id`,
		k.UserOID, k.Hash, k.Prefix, k.Name, fmtTimePtr(k.ExpiresAt), k.Active,
		fmtTimePtr(k.LastUsedAt), models, fmtTime(k.CreatedAt), k.UserOID).Scan(&k.ID)
	if err == sql.ErrNoRows {
		return store.APIKey{}, fmt.Errorf("%s: %w", what, store.ErrReferenced)
	}
	if err != nil {
		return store.APIKey{}, mapErr(err, what)
	}
	return k, nil
}

// GetKey returns one key by id.
func (s *Store) GetKey(ctx context.Context, id int64) (store.APIKey, error) {
	var k store.APIKey
	err := s.db.QueryRowContext(ctx, `SELECT `+keyCols+` FROM ApiKeys k WHERE k.id = ?`, id).
		Scan(keyDest(&k)...)
	if err != nil {
		return store.APIKey{}, mapErr(err, fmt.Sprintf("sqlite: get key %d", id))
	}
	return k, nil
}

// KeyByHash returns the key with that hash and its owner, whatever their flags.
func (s *Store) KeyByHash(ctx context.Context, hash string) (store.KeyOwner, error) {
	var ko store.KeyOwner
	u := &ko.User
	dest := append(keyDest(&ko.Key), &u.OID, &u.Email, &u.DisplayName, &u.Role, &u.Active,
		timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}, nullTimeCol{&u.DeletedAt})
	err := s.db.QueryRowContext(ctx, `
		SELECT `+keyCols+`, u.oid, u.email, u.display_name, u.role, u.is_active,
			u.created_at, u.updated_at, u.deleted_at
		FROM ApiKeys k JOIN Users u ON u.oid = k.user_oid
		WHERE k.key_hash = ?`, hash).Scan(dest...)
	if err != nil {
		return store.KeyOwner{}, mapErr(err, "sqlite: key by hash")
	}
	return ko, nil
}

// ListKeys lists the keys of one user, newest first.
func (s *Store) ListKeys(ctx context.Context, userOID string, p store.Page) ([]store.APIKey, error) {
	p = p.Normalized()
	what := fmt.Sprintf("sqlite: list keys of %q", userOID)
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+keyCols+` FROM ApiKeys k WHERE k.user_oid = ?
		ORDER BY k.created_at DESC, k.id DESC LIMIT ? OFFSET ?`, userOID, p.Limit, p.Offset)
	if err != nil {
		return nil, mapErr(err, what)
	}
	defer rows.Close()
	out := []store.APIKey{}
	for rows.Next() {
		var k store.APIKey
		if err := rows.Scan(keyDest(&k)...); err != nil {
			return nil, mapErr(err, what)
		}
		out = append(out, k)
	}
	return out, mapErr(rows.Err(), what)
}

// RevokeKey deactivates a key; revoking twice is not an error.
func (s *Store) RevokeKey(ctx context.Context, id int64) error {
	what := fmt.Sprintf("sqlite: revoke key %d", id)
	res, err := s.db.ExecContext(ctx, `UPDATE ApiKeys SET is_active = 0 WHERE id = ?`, id)
	if err != nil {
		return mapErr(err, what)
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr(err, what)
	} else if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// TouchKeys moves last_used_at forward for each key in one transaction;
// unknown ids and older times are ignored.
func (s *Store) TouchKeys(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(used))
	for id := range used {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return mapErr(s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `
			UPDATE ApiKeys SET last_used_at = ?1
			WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, fmtTime(used[id]), id); err != nil {
				return err
			}
		}
		return nil
	}), "sqlite: touch keys")
}
