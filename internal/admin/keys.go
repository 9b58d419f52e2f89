package admin

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// keyCreate is the body of POST /admin/api/users/{oid}/keys.
type keyCreate struct {
	Name          string   `json:"name"`
	ExpiresAt     *string  `json:"expires_at"`
	AllowedModels []string `json:"allowed_models"`
}

// keyView is how a key is shown: never its plaintext or hash.
type keyView struct {
	ID            int64      `json:"id"`
	UserOID       string     `json:"user_oid"`
	Prefix        string     `json:"prefix"`
	Name          string     `json:"name"`
	ExpiresAt     *time.Time `json:"expires_at"`
	Active        bool       `json:"is_active"`
	LastUsedAt    *time.Time `json:"last_used_at"`
	AllowedModels []string   `json:"allowed_models"`
	CreatedAt     time.Time  `json:"created_at"`
}

// keyCreated is the answer to a key creation: the only time the plaintext is
// shown.
type keyCreated struct {
	Key string `json:"key"`
	keyView
}

func viewKey(k store.APIKey) keyView {
	models := k.AllowedModels
	if models == nil {
		models = []string{}
	}
	return keyView{
		ID: k.ID, UserOID: k.UserOID, Prefix: k.Prefix, Name: k.Name, ExpiresAt: k.ExpiresAt,
		Active: k.Active, LastUsedAt: k.LastUsedAt, AllowedModels: models, CreatedAt: k.CreatedAt,
	}
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) error {
	oid := r.PathValue("oid")
	p, err := parsePage(r)
	if err != nil {
		return err
	}
	if _, err := a.store.GetUser(r.Context(), oid); err != nil {
		return ifNotFound(err, userNotFound(oid))
	}
	keys, more, err := fetchPage(p, func(pg store.Page) ([]store.APIKey, error) {
		return a.store.ListKeys(r.Context(), oid, pg)
	})
	if err != nil {
		return err
	}
	return writeList(w, mapSlice(keys, viewKey), more)
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) error {
	oid := r.PathValue("oid")
	var b keyCreate
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if err := validText("name", b.Name, maxKeyNameLen); err != nil {
		return err
	}
	k := store.APIKey{UserOID: oid, Name: b.Name, Active: true, CreatedAt: a.now().UTC()}
	if b.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *b.ExpiresAt)
		if err != nil {
			return apierror.InvalidRequest("expires_at", "'expires_at' must be an RFC 3339 time such as 2030-01-31T00:00:00Z.")
		}
		if !t.After(a.now()) {
			return apierror.InvalidRequest("expires_at", "'expires_at' must be in the future.")
		}
		t = t.UTC()
		k.ExpiresAt = &t
	}
	models, err := a.allowedModels(r, b.AllowedModels)
	if err != nil {
		return err
	}
	k.AllowedModels = models
	if _, err := a.liveUser(r, oid); err != nil {
		return err
	}
	plaintext, hash, prefix, err := auth.NewKey()
	if err != nil {
		return err
	}
	k.Hash, k.Prefix = hash, prefix
	k, err = a.store.CreateKey(r.Context(), k)
	if errors.Is(err, store.ErrReferenced) {
		return userNotFound(oid)
	}
	if err != nil {
		return err
	}
	v := viewKey(k)
	a.audit(r, "key.create", "key", strconv.FormatInt(k.ID, 10), nil, v)
	return writeJSON(w, http.StatusCreated, keyCreated{Key: plaintext, keyView: v})
}

// allowedModels checks a key's model allow-list: known model names, no repeats.
func (a *API) allowedModels(r *http.Request, names []string) ([]string, error) {
	if len(names) > maxAllowedModels {
		return nil, apierror.InvalidRequest("allowed_models", "'allowed_models' may list at most 1000 models.")
	}
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if err := validModelName("allowed_models", n); err != nil {
			return nil, err
		}
		if _, err := a.store.GetModel(r.Context(), n); err != nil {
			return nil, ifNotFound(err, apierror.InvalidRequest("allowed_models",
				"'allowed_models' names the model '"+n+"', which does not exist."))
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// revokeKey deactivates a key and drops it from every replica's cache.
func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "key")
	if err != nil {
		return err
	}
	notFound := apierror.NotFound("API key " + strconv.FormatInt(id, 10) + " was")
	before, err := a.store.GetKey(r.Context(), id)
	if err != nil {
		return ifNotFound(err, notFound)
	}
	if err := a.store.RevokeKey(r.Context(), id); err != nil {
		return ifNotFound(err, notFound)
	}
	a.publish(r, events.KeyChanged, before.Hash)
	after := before
	after.Active = false
	a.audit(r, "key.revoke", "key", strconv.FormatInt(id, 10), viewKey(before), viewKey(after))
	return noContent(w)
}
