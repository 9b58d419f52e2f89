package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/antigravity/gateway/internal/store"
)

const keyCols = `k.id, k.user_oid, k.key_hash, k.prefix, k.name, k.expires_at, k.is_active,
	k.last_used_at, k.allowed_models, k.created_at`

func keyDest(k *store.APIKey) []any {
	return []any{&k.ID, &k.UserOID, &k.Hash, &k.Prefix, &k.Name, &k.ExpiresAt,
		&k.Active, &k.LastUsedAt, &k.AllowedModels, &k.CreatedAt}
}

func fixKey(k *store.APIKey) {
	fixTime(&k.CreatedAt)
	fixTimePtr(&k.ExpiresAt)
	fixTimePtr(&k.LastUsedAt)
	if len(k.AllowedModels) == 0 {
		k.AllowedModels = nil
	}
}

func scanKey(r rowScanner) (store.APIKey, error) {
	var k store.APIKey
	err := r.Scan(keyDest(&k)...)
	fixKey(&k)
	return k, err
}

// modelsArg is the stored form of an allowed-models list: NULL when empty.
func modelsArg(ms []string) any {
	if len(ms) == 0 {
		return nil
	}
	return ms
}

// CreateKey stores k; ID and CreatedAt are assigned. ErrReferenced if the user
// does not exist or is deleted; ErrConflict if the hash is taken.
func (s *Store) CreateKey(ctx context.Context, k store.APIKey) (store.APIKey, error) {
	what := fmt.Sprintf("postgres: create key for user %q", k.UserOID)
	k.CreatedAt = now()
	k.ExpiresAt, k.LastUsedAt = normPtr(k.ExpiresAt), normPtr(k.LastUsedAt)
	if len(k.AllowedModels) == 0 {
		k.AllowedModels = nil
	}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO ApiKeys (user_oid, key_hash, prefix, name, expires_at, is_active,
			last_used_at, allowed_models, created_at)
		SELECT $1::varchar, $2::char(64), $3::text, $4::text, $5::timestamptz, $6::boolean,
			$7::timestamptz, $8::text[], $9::timestamptz
		WHERE EXISTS (SELECT 1 FROM Users WHERE oid = $1 AND deleted_at IS NULL)
		RETURNING id`,
		k.UserOID, k.Hash, k.Prefix, k.Name, k.ExpiresAt, k.Active, k.LastUsedAt,
		modelsArg(k.AllowedModels), k.CreatedAt).Scan(&k.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.APIKey{}, fmt.Errorf("%s: %w", what, store.ErrReferenced)
	}
	if err != nil {
		return store.APIKey{}, mapErr(err, what)
	}
	return k, nil
}

// GetKey returns one key by id.
func (s *Store) GetKey(ctx context.Context, id int64) (store.APIKey, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyCols+` FROM ApiKeys k WHERE k.id = $1`, id))
	if err != nil {
		return store.APIKey{}, mapErr(err, fmt.Sprintf("postgres: get key %d", id))
	}
	return k, nil
}

// KeyByHash returns the key with that hash and its owner, whatever their flags.
func (s *Store) KeyByHash(ctx context.Context, hash string) (store.KeyOwner, error) {
	var ko store.KeyOwner
	var role string
	u := &ko.User
	dest := append(keyDest(&ko.Key), &u.OID, &u.Email, &u.DisplayName, &role, &u.Active,
		&u.CreatedAt, &u.UpdatedAt, &u.DeletedAt)
	err := s.pool.QueryRow(ctx, `
		SELECT `+keyCols+`, u.oid, u.email, u.display_name, u.role, u.is_active,
			u.created_at, u.updated_at, u.deleted_at
		FROM ApiKeys k JOIN Users u ON u.oid = k.user_oid
		WHERE k.key_hash = $1`, hash).Scan(dest...)
	if err != nil {
		return store.KeyOwner{}, mapErr(err, "postgres: key by hash")
	}
	fixKey(&ko.Key)
	u.Role = store.Role(role)
	fixTime(&u.CreatedAt)
	fixTime(&u.UpdatedAt)
	fixTimePtr(&u.DeletedAt)
	return ko, nil
}

// ListKeys lists the keys of one user, newest first.
func (s *Store) ListKeys(ctx context.Context, userOID string, p store.Page) ([]store.APIKey, error) {
	p = p.Normalized()
	what := fmt.Sprintf("postgres: list keys of %q", userOID)
	rows, err := s.pool.Query(ctx, `
		SELECT `+keyCols+` FROM ApiKeys k WHERE k.user_oid = $1
		ORDER BY k.created_at DESC, k.id DESC LIMIT $2 OFFSET $3`, userOID, p.Limit, p.Offset)
	if err != nil {
		return nil, mapErr(err, what)
	}
	out, err := collect(rows, scanKey)
	return out, mapErr(err, what)
}

// RevokeKey deactivates a key; revoking twice is not an error.
func (s *Store) RevokeKey(ctx context.Context, id int64) error {
	return s.execOne(ctx, fmt.Sprintf("postgres: revoke key %d", id),
		`UPDATE ApiKeys SET is_active = FALSE WHERE id = $1`, id)
}

// TouchKeys moves last_used_at forward for many keys in one statement; unknown
// ids and older times are ignored.
func (s *Store) TouchKeys(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(used))
	for id := range used {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	times := make([]time.Time, len(ids))
	for i, id := range ids {
		times[i] = norm(used[id])
	}
	_, err := s.pool.Exec(ctx, `
		UPDATE ApiKeys AS k SET last_used_at = v.t
		FROM unnest($1::bigint[], $2::timestamptz[]) AS v(id, t)
		WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.t)`, ids, times)
	return mapErr(err, "postgres: touch keys")
}
