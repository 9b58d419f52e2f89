package proxy

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/budget"
	"github.com/antigravity/gateway/internal/delegation"
	"github.com/antigravity/gateway/internal/killswitch"
	"github.com/antigravity/gateway/internal/reqscope"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/tokens"
	"github.com/antigravity/gateway/internal/upstream"
	"github.com/antigravity/gateway/internal/validate"
)

// prepared is a request that passed authentication, delegation and
// validation, ready to be proxied.
type prepared struct {
	principal *auth.Principal // nil on the shared-secret route
	req       *request
	subject   Subject
	pool      *upstream.Pool
	prompt    int64 // prompt tokens counted, or an upper bound
	counted   bool  // prompt is a count
	messages  []tokens.Message
}

// prepare runs everything that happens before an upstream call: read the body,
// authenticate (API key, or the shared-secret route), parse, resolve who is
// billed (delegation), and check the model. Nothing here costs anything.
func (h *Handler) prepare(w http.ResponseWriter, r *http.Request, chat bool) (*prepared, error) {
	// The key is checked before the body is read: unauthenticated callers'
	// bodies are never read (the shared-secret route is checked by Resolve).
	var p *auth.Principal
	var err error
	shared := delegation.UsesSharedSecret(r.Header)
	if !shared {
		if p, err = h.caller(r); err != nil {
			return nil, err
		}
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return nil, err
	}
	req, err := parseRequest(body, chat)
	if err != nil {
		return nil, err
	}
	sc := reqscope.From(r.Context())
	sc.Model, sc.Stream = req.Model, req.Stream
	subject := Subject{Method: string(delegation.MethodKey)}
	if p != nil {
		keyID := p.KeyID
		subject.UserOID, subject.KeyID = p.UserOID, &keyID
	}
	if h.d.Delegation != nil {
		res, err := h.d.Delegation.Resolve(r.Context(), delegation.Input{Principal: p, Query: r.URL.Query(), Fields: req.fields, Header: r.Header})
		if err != nil {
			return nil, err
		}
		if res.BodyChanged {
			req.changed = true
		}
		subject = Subject{UserOID: res.UserOID, KeyID: res.KeyID, AppID: res.AppID, Method: string(res.Method)}
	} else if shared {
		return nil, apierror.Unauthorized("invalid_gateway_secret", "The shared-secret route is disabled on this gateway.")
	}
	sc.UserOID = subject.UserOID
	if subject.AppID != nil {
		sc.AppID = *subject.AppID
	}
	pool, err := h.pool(p, req.Model)
	if err != nil {
		return nil, err
	}
	sc.ModelKnown = true
	return &prepared{principal: p, req: req, subject: subject, pool: pool}, nil
}

// subjects are the kill-switch subjects of a prepared request.
func (pr *prepared) subjects() killswitch.Subjects {
	s := killswitch.Subjects{Model: pr.pool.Model.Name, UserOID: pr.subject.UserOID}
	if pr.subject.AppID != nil {
		s.AppID = *pr.subject.AppID
	}
	if pr.subject.KeyID != nil {
		s.KeyID = *pr.subject.KeyID
	}
	return s
}

// proxy checks the kill switch, reserves the worst case against the budgets,
// and runs the call, which settles the reservation with exactly the cost of
// its usage row on every path.
func (h *Handler) proxy(w http.ResponseWriter, r *http.Request, op upstream.Operation, pr *prepared) error {
	sc := reqscope.From(r.Context())
	subj := pr.subjects()
	if h.d.Kill != nil {
		if e := h.d.Kill.Check(subj); e != nil {
			return e
		}
	}
	c := &call{h: h, op: op, start: sc.Start, req: pr.req, pool: pr.pool, sc: sc, subject: pr.subject, promptEstimate: pr.prompt, promptCounted: pr.counted, messages: pr.messages, kill: subj}
	if c.start.IsZero() {
		c.start = h.d.Now()
	}
	if h.d.Budget != nil {
		amount := budget.WorstCase(pr.pool.Model, pr.prompt, pr.req.MaxOutput)
		res, err := h.d.Budget.Reserve(r.Context(), budget.Subject{UserOID: subj.UserOID, AppID: subj.AppID, KeyID: subj.KeyID, At: c.start}, sc.ID, amount)
		if err != nil {
			return err
		}
		bctx := context.WithoutCancel(r.Context())
		settleFn := res.Settle
		d, deferred := res.(budget.Deferrable)
		if deferred {
			settleFn = d.SettleDeferred
		}
		settle := func(rec store.UsageRecord) {
			// The hold is settled before the row is queued: a budget counter
			// rebuilt from UsageLogs then counts every row exactly once.
			if err := settleFn(bctx, rec.Cost); err != nil {
				h.d.Log.Error("budget: settle failed", "request_id", rec.RequestID, "err", err)
			}
			h.d.Usage.Record(rec)
		}
		c.commit = settle
		if deferred {
			// A Redis settle is a round trip (gathered with others'): run it
			// after the handler, so the client does not wait for it and the
			// connection is free for its next request. Pending lets shutdown
			// wait for it (and the row).
			c.commit = func(rec store.UsageRecord) {
				h.d.Pending.Add(1)
				go func() {
					defer h.d.Pending.Done()
					settle(rec)
				}()
			}
		}
	}
	return c.serve(w, r)
}

// chat serves POST /v1/chat/completions.
func (h *Handler) chat(w http.ResponseWriter, r *http.Request) error {
	pr, err := h.prepare(w, r, true)
	if err != nil {
		return err
	}
	param := "max_tokens"
	if _, ok := pr.req.fields["max_completion_tokens"]; ok {
		param = "max_completion_tokens"
	}
	res, err := validate.Chat(validate.Input{
		Model:          pr.req.Model,
		Messages:       pr.req.fields["messages"],
		Tools:          pr.req.fields["tools"],
		Functions:      pr.req.fields["functions"],
		MaxOutput:      pr.req.MaxOutput,
		MaxOutputParam: param,
	}, pr.pool.Model, h.d.Tokens)
	if err != nil {
		return err
	}
	pr.prompt, pr.counted, pr.messages = int64(res.PromptTokens), res.Counted, res.Messages
	return h.proxy(w, r, upstream.ChatCompletions, pr)
}

// embeddings serves POST /v1/embeddings.
func (h *Handler) embeddings(w http.ResponseWriter, r *http.Request) error {
	pr, err := h.prepare(w, r, false)
	if err != nil {
		return err
	}
	if raw, ok := pr.req.fields["input"]; !ok || isNull(raw) {
		return apierror.InvalidRequest("input", "Missing required parameter: 'input'.")
	}
	pr.req.Stream = false
	pr.prompt = int64(len(pr.req.fields["input"]))
	return h.proxy(w, r, upstream.Embeddings, pr)
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
