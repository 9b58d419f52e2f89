package proxy

import (
	"encoding/json"
	"net/http"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/reqscope"
	"github.com/antigravity/gateway/internal/upstream"
)

// chat serves POST /v1/chat/completions.
func (h *Handler) chat(w http.ResponseWriter, r *http.Request) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	p, err := h.caller(r)
	if err != nil {
		return err
	}
	req, err := parseRequest(body, true)
	if err != nil {
		return err
	}
	sc := reqscope.From(r.Context())
	sc.Model, sc.Stream = req.Model, req.Stream
	pool, err := h.pool(p, req.Model)
	if err != nil {
		return err
	}
	return h.newCall(r, upstream.ChatCompletions, p, req, pool).serve(w, r)
}

// embeddings serves POST /v1/embeddings.
func (h *Handler) embeddings(w http.ResponseWriter, r *http.Request) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	p, err := h.caller(r)
	if err != nil {
		return err
	}
	req, err := parseRequest(body, false)
	if err != nil {
		return err
	}
	if raw, ok := req.fields["input"]; !ok || isNull(raw) {
		return apierror.InvalidRequest("input", "Missing required parameter: 'input'.")
	}
	req.Stream = false
	sc := reqscope.From(r.Context())
	sc.Model = req.Model
	pool, err := h.pool(p, req.Model)
	if err != nil {
		return err
	}
	return h.newCall(r, upstream.Embeddings, p, req, pool).serve(w, r)
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// models serves GET /v1/models: only the models the caller may use.
func (h *Handler) models(w http.ResponseWriter, r *http.Request) error {
	p, err := h.caller(r)
	if err != nil {
		return err
	}
	snap := h.d.Pools.Snapshot()
	list := struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{Object: "list", Data: []modelObject{}}
	for _, name := range snap.Names {
		pool := snap.Models[name]
		if pool.Model.Active && p.MayUse(name) {
			list.Data = append(list.Data, modelObject{ID: name, Object: "model", Created: pool.Model.CreatedAt.Unix(), OwnedBy: "antigravity"})
		}
	}
	return writeJSON(w, http.StatusOK, list)
}

// model serves GET /v1/models/{model}.
func (h *Handler) model(w http.ResponseWriter, r *http.Request) error {
	p, err := h.caller(r)
	if err != nil {
		return err
	}
	name := r.PathValue("model")
	pool, err := h.pool(p, name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, modelObject{ID: name, Object: "model", Created: pool.Model.CreatedAt.Unix(), OwnedBy: "antigravity"})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return apierror.Internal(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}
