package upstream

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/antigravity/gateway/internal/store"
)

// Operation is the OpenAI API operation being proxied.
type Operation string

const (
	ChatCompletions Operation = "chat/completions"
	Embeddings      Operation = "embeddings"
)

// userAgent identifies the gateway to providers.
const userAgent = "antigravity-gateway/1"

// NewRequest builds the upstream HTTP request for op on endpoint e. The caller's
// credential never reaches the provider: the endpoint's own is set instead.
func NewRequest(ctx context.Context, e *Endpoint, op Operation, body []byte) (*http.Request, error) {
	u := *e.Base
	switch e.Config.Provider {
	case store.ProviderAzure:
		// {base}/openai/deployments/{deployment}/{op}?api-version=…
		u.Path = strings.TrimSuffix(u.Path, "/") + "/openai/deployments/" + url.PathEscape(e.Config.UpstreamModel) + "/" + string(op)
		q := u.Query()
		q.Set("api-version", e.Config.APIVersion)
		u.RawQuery = q.Encode()
	case store.ProviderOpenAI, store.ProviderOpenAICompatible, store.ProviderFake:
		u.Path = strings.TrimSuffix(u.Path, "/") + "/" + string(op)
	default:
		return nil, fmt.Errorf("upstream: unknown provider %q", e.Config.Provider)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json, text/event-stream")
	h.Set("User-Agent", userAgent)
	if e.Credential != "" {
		if e.Config.Provider == store.ProviderAzure {
			h.Set("api-key", e.Credential)
		} else {
			h.Set("Authorization", "Bearer "+e.Credential)
		}
	}
	return req, nil
}
