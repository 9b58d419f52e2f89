package proxy

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/upstream"
)

func asMaxBytes(err error, target **http.MaxBytesError) bool { return errors.As(err, target) }

// upstreamHTTPError maps an upstream error response to the caller's error.
func upstreamHTTPError(resp *http.Response, body []byte) *apierror.Error {
	var env struct {
		Error struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Param   *string         `json:"param"`
			Code    json.RawMessage `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &env)
	msg := env.Error.Message
	var e *apierror.Error
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		if msg == "" {
			msg = "The upstream provider is rate limiting requests."
		}
		e = apierror.Upstream(s, "rate_limit_exceeded", "Upstream rate limit: "+msg, true)
		e.RetryAfterMs = upstream.ParseRetryAfter(resp.Header, time.Now()).Milliseconds()
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		// The endpoint's credential is wrong: not the caller's fault.
		e = apierror.Upstream(http.StatusBadGateway, "upstream_auth_error",
			"The gateway's credential for this model was refused by the provider; tell the gateway admin.", true)
	case s >= 400 && s < 500:
		if msg == "" {
			msg = http.StatusText(s)
		}
		e = apierror.Upstream(s, "upstream_invalid_request", "The provider rejected the request: "+msg, false)
		if env.Error.Param != nil {
			e.Param = *env.Error.Param
		}
		if env.Error.Type != "" {
			e.Type = env.Error.Type
		}
		var code string
		if json.Unmarshal(env.Error.Code, &code) == nil && code != "" {
			e.Code = code
		}
	default:
		if msg == "" {
			msg = http.StatusText(s)
		}
		e = apierror.Upstream(http.StatusBadGateway, "upstream_error",
			"The upstream provider failed (HTTP "+strconv.Itoa(s)+"): "+msg, true)
	}
	return e
}
