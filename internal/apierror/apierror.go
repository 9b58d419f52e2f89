// Package apierror is the one error type handlers return and the one place errors
// are rendered, in OpenAI's shape: {"error":{"message","type","param","code"}}.
package apierror

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Error is an API error. Handlers return it; Write renders it.
type Error struct {
	Status  int    // HTTP status
	Type    string // OpenAI error type, e.g. invalid_request_error
	Code    string // machine-readable code, e.g. invalid_api_key
	Param   string // offending parameter, if any
	Message string // what the integrator should fix
	// Retryable says whether retrying the same request may succeed; false sends
	// x-should-retry: false.
	Retryable bool
	// RetryAfterMs, when set, is sent as retry-after / retry-after-ms.
	RetryAfterMs int64
	// Cause is the underlying error, logged but never shown to the caller.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Message + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// Body is the JSON body of an error response.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is the inner object of an error body.
type Detail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// Detail returns the body's inner object.
func (e *Error) Detail() Detail {
	d := Detail{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		p := e.Param
		d.Param = &p
	}
	if e.Code != "" {
		c := e.Code
		d.Code = &c
	}
	return d
}

// JSON returns the marshalled error body.
func (e *Error) JSON() []byte {
	b, _ := json.Marshal(Body{Error: e.Detail()})
	return b
}

// As converts any error to an *Error; unknown errors become a 500 whose message
// does not leak internals.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}

// Write renders err as an OpenAI error response.
func Write(w http.ResponseWriter, err error) *Error {
	e := As(err)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if !e.Retryable {
		h.Set("x-should-retry", "false")
	} else {
		h.Set("x-should-retry", "true")
	}
	if e.RetryAfterMs > 0 {
		h.Set("retry-after-ms", strconv.FormatInt(e.RetryAfterMs, 10))
		h.Set("retry-after", strconv.FormatInt((e.RetryAfterMs+999)/1000, 10))
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.JSON())
	return e
}

// Constructors for the errors the gateway uses. Messages should say what to fix.

func InvalidRequest(param, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "invalid_request_error", Param: param, Message: msg}
}

func InvalidAPIKey(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key", Message: msg}
}

func Unauthorized(code, msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: code, Message: msg}
}

func PermissionDenied(code, msg string) *Error {
	return &Error{Status: http.StatusForbidden, Type: "permission_error", Code: code, Message: msg}
}

func ModelNotFound(model string) *Error {
	return &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found", Param: "model",
		Message: "The model `" + model + "` does not exist or you do not have access to it."}
}

func NotFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "not_found", Message: what + " not found"}
}

func Conflict(msg string) *Error {
	return &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "conflict", Message: msg}
}

func TooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
		Message: "Request body exceeds the limit of " + strconv.FormatInt(limit, 10) + " bytes."}
}

func MethodNotAllowed(method string) *Error {
	return &Error{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Code: "method_not_allowed",
		Message: "Method " + method + " is not allowed on this path."}
}

func RouteNotFound(path string) *Error {
	return &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "unknown_url",
		Message: "Unknown request URL: " + path + ". Please check the URL for typos."}
}

// Upstream maps an upstream failure; status is what the caller receives.
func Upstream(status int, code, msg string, retryable bool) *Error {
	typ := "upstream_error"
	switch status {
	case http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity:
		typ = "invalid_request_error"
	}
	return &Error{Status: status, Type: typ, Code: code, Message: msg, Retryable: retryable}
}

func Unavailable(code, msg string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: code, Message: msg, Retryable: true}
}

func Internal(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Type: "server_error", Code: "internal_error",
		Message: "The gateway failed to process the request; see the x-request-id in the gateway logs.", Retryable: true, Cause: cause}
}
