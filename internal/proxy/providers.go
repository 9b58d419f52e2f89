package proxy

import (
	"context"
	"io"
	"net/http"

	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/upstream"
	"github.com/antigravity/gateway/internal/upstream/anthropic"
	"github.com/antigravity/gateway/internal/upstream/gemini"
)

// adapter speaks one provider's wire format. OpenAI-family providers pass
// bytes through; the others translate to and from the OpenAI format, so the
// relay and metering code only ever sees OpenAI responses.
type adapter struct {
	build    func(ctx context.Context, e *upstream.Endpoint, op upstream.Operation, body []byte) (*http.Request, error)
	response func(body []byte, model string, op upstream.Operation, request []byte) ([]byte, error) // nil: as is
	stream   func(r io.Reader, model string) io.ReadCloser                                          // nil: as is
	errBody  func(status int, body []byte) []byte                                                   // nil: as is
}

var passthrough = adapter{build: upstream.NewRequest}

func adapterFor(provider string) adapter {
	switch provider {
	case store.ProviderAnthropic:
		return adapter{
			build: func(ctx context.Context, e *upstream.Endpoint, op upstream.Operation, body []byte) (*http.Request, error) {
				return anthropic.BuildRequest(ctx, e.Base, e.Credential, e.Config.UpstreamModel, e.Config.APIVersion, string(op), body)
			},
			response: func(body []byte, model string, _ upstream.Operation, _ []byte) ([]byte, error) {
				return anthropic.Response(body, model)
			},
			stream:  anthropic.Stream,
			errBody: anthropic.Error,
		}
	case store.ProviderGemini:
		return adapter{
			build: func(ctx context.Context, e *upstream.Endpoint, op upstream.Operation, body []byte) (*http.Request, error) {
				return gemini.BuildRequest(ctx, e.Base, e.Credential, e.Config.UpstreamModel, e.Config.APIVersion, string(op), body)
			},
			response: func(body []byte, model string, op upstream.Operation, request []byte) ([]byte, error) {
				if op == upstream.Embeddings {
					return gemini.EmbeddingsResponse(body, model, request)
				}
				return gemini.Response(body, model)
			},
			stream:  gemini.Stream,
			errBody: gemini.Error,
		}
	}
	return passthrough
}
