package sqlite

import (
	"context"
	"fmt"

	"github.com/antigravity/gateway/internal/store"
)

const endpointCols = `id, model, provider, base_url, upstream_model, api_version, credential,
	weight, priority, rpm_limit, tpm_limit, is_active, draining, created_at, updated_at`

func scanEndpoint(r rowScanner) (store.Endpoint, error) {
	var e store.Endpoint
	err := r.Scan(&e.ID, &e.Model, &e.Provider, &e.BaseURL, &e.UpstreamModel, &e.APIVersion,
		&e.Credential, &e.Weight, &e.Priority, &e.RPMLimit, &e.TPMLimit, &e.Active, &e.Draining,
		timeCol{&e.CreatedAt}, timeCol{&e.UpdatedAt})
	if len(e.Credential) == 0 {
		e.Credential = nil
	}
	return e, err
}

// credential returns the stored form of a credential (NULL when empty).
func credential(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// CreateEndpoint stores e; ID, CreatedAt and UpdatedAt are assigned.
// ErrReferenced if its model does not exist.
func (s *Store) CreateEndpoint(ctx context.Context, e store.Endpoint) (store.Endpoint, error) {
	t := now()
	e.CreatedAt, e.UpdatedAt = t, t
	if len(e.Credential) == 0 {
		e.Credential = nil
	}
	err := s.db.QueryRowContext(ctx, `
		INSERT INTO ModelEndpoints (model, provider, base_url, upstream_model, api_version,
			credential, weight, priority, rpm_limit, tpm_limit, is_active, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING id`,
		e.Model, e.Provider, e.BaseURL, e.UpstreamModel, e.APIVersion, credential(e.Credential),
		e.Weight, e.Priority, e.RPMLimit, e.TPMLimit, e.Active, fmtTime(t), fmtTime(t)).Scan(&e.ID)
	if err != nil {
		return store.Endpoint{}, mapErr(err, fmt.Sprintf("sqlite: create endpoint for model %q", e.Model))
	}
	return e, nil
}

// GetEndpoint returns one endpoint.
func (s *Store) GetEndpoint(ctx context.Context, id int64) (store.Endpoint, error) {
	e, err := scanEndpoint(s.db.QueryRowContext(ctx,
		`SELECT `+endpointCols+` FROM ModelEndpoints WHERE id = ?`, id))
	if err != nil {
		return store.Endpoint{}, mapErr(err, fmt.Sprintf("sqlite: get endpoint %d", id))
	}
	return e, nil
}

// ListEndpoints lists the endpoints of model (all models when empty), by id.
func (s *Store) ListEndpoints(ctx context.Context, model string) ([]store.Endpoint, error) {
	var w where
	if model != "" {
		w.add("model = ?", model)
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+endpointCols+` FROM ModelEndpoints`+w.String()+` ORDER BY id`, w.args...)
	if err != nil {
		return nil, mapErr(err, "sqlite: list endpoints")
	}
	defer rows.Close()
	out := []store.Endpoint{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, mapErr(err, "sqlite: list endpoints")
		}
		out = append(out, e)
	}
	return out, mapErr(rows.Err(), "sqlite: list endpoints")
}

// UpdateEndpoint changes the non-nil fields of an endpoint.
func (s *Store) UpdateEndpoint(ctx context.Context, id int64, p store.EndpointPatch) (store.Endpoint, error) {
	var set sets
	if p.Provider != nil {
		set.add("provider", *p.Provider)
	}
	if p.BaseURL != nil {
		set.add("base_url", *p.BaseURL)
	}
	if p.UpstreamModel != nil {
		set.add("upstream_model", *p.UpstreamModel)
	}
	if p.APIVersion != nil {
		set.add("api_version", *p.APIVersion)
	}
	if p.Credential != nil {
		set.add("credential", credential(p.Credential))
	}
	if p.Weight != nil {
		set.add("weight", *p.Weight)
	}
	if p.Priority != nil {
		set.add("priority", *p.Priority)
	}
	if p.RPMLimit != nil {
		set.add("rpm_limit", *p.RPMLimit)
	}
	if p.TPMLimit != nil {
		set.add("tpm_limit", *p.TPMLimit)
	}
	if p.Active != nil {
		set.add("is_active", *p.Active)
	}
	if p.Draining != nil {
		set.add("draining", *p.Draining)
	}
	if set.empty() {
		return s.GetEndpoint(ctx, id)
	}
	set.add("updated_at", fmtTime(now()))
	e, err := scanEndpoint(s.db.QueryRowContext(ctx,
		`UPDATE ModelEndpoints SET `+set.String()+` WHERE id = ? RETURNING `+endpointCols,
		append(set.args, id)...))
	if err != nil {
		return store.Endpoint{}, mapErr(err, fmt.Sprintf("sqlite: update endpoint %d", id))
	}
	return e, nil
}

// DeleteEndpoint removes one endpoint.
func (s *Store) DeleteEndpoint(ctx context.Context, id int64) error {
	return deleteOne(ctx, s.db, fmt.Sprintf("sqlite: delete endpoint %d", id),
		`DELETE FROM ModelEndpoints WHERE id = ?`, id)
}
