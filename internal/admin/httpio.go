package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/store"
)

// maxBody bounds every admin request body.
const maxBody = 1 << 20

// Page bounds of list routes.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// decodeBody decodes the JSON object in r's body into dst, rejecting unknown
// fields, trailing data and bodies over maxBody. Numbers decode as json.Number
// where dst asks for one, so prices never pass through a float.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return apierror.TooLarge(maxBody)
		}
		return apierror.InvalidRequest("", "The request body must contain a single JSON object and nothing after it.")
	}
	return nil
}

// decodeError turns a decoding failure into a 400 (or 413) naming the field.
func decodeError(err error) error {
	var (
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
		tooLarge *http.MaxBytesError
	)
	switch {
	case errors.Is(err, io.EOF):
		return apierror.InvalidRequest("", "The request body is empty; send a JSON object.")
	case errors.As(err, &tooLarge):
		return apierror.TooLarge(maxBody)
	case errors.As(err, &syntax):
		return apierror.InvalidRequest("", "The request body is not valid JSON (error at byte "+
			strconv.FormatInt(syntax.Offset, 10)+": "+syntax.Error()+").")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apierror.InvalidRequest("", "The request body is not valid JSON (it ends early).")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return apierror.InvalidRequest("", "The request body must be a JSON object, not "+article(typ.Value)+".")
		}
		return apierror.InvalidRequest(typ.Field, "Invalid type for '"+typ.Field+"': expected "+
			jsonKind(typ)+", got "+article(typ.Value)+".")
	}
	if field, ok := unknownField(err); ok {
		return apierror.InvalidRequest(field, "Unrecognized request argument supplied: '"+field+"'.")
	}
	return apierror.InvalidRequest("", "The request body could not be decoded: "+err.Error())
}

// unknownField extracts the name from encoding/json's DisallowUnknownFields error.
func unknownField(err error) (string, bool) {
	const p = "json: unknown field "
	msg := err.Error()
	if !strings.HasPrefix(msg, p) {
		return "", false
	}
	name, uerr := strconv.Unquote(msg[len(p):])
	if uerr != nil {
		name = strings.Trim(msg[len(p):], `"`)
	}
	return name, true
}

// jsonKind names the JSON type a Go destination expects.
func jsonKind(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "another type"
	}
	switch e.Type.String() {
	case "json.Number":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32":
		return "an integer"
	}
	switch e.Type.Kind().String() {
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return e.Type.String()
}

func article(v string) string {
	switch {
	case v == "":
		return "another type"
	case strings.HasPrefix(v, "array"), strings.HasPrefix(v, "object"):
		return "an " + v
	}
	return "a " + v
}

// writeJSON renders v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// noContent answers 204.
func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// list is the body of every list route.
type list[T any] struct {
	Object  string `json:"object"`
	Data    []T    `json:"data"`
	HasMore bool   `json:"has_more"`
}

func writeList[T any](w http.ResponseWriter, data []T, hasMore bool) error {
	if data == nil {
		data = []T{}
	}
	return writeJSON(w, http.StatusOK, list[T]{Object: "list", Data: data, HasMore: hasMore})
}

// parsePage reads ?limit= (1–1000, default 100) and ?offset= (≥ 0, default 0).
func parsePage(r *http.Request) (store.Page, error) {
	q := r.URL.Query()
	p := store.Page{Limit: defaultLimit}
	if s := q.Get("limit"); s != "" || q.Has("limit") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return p, apierror.InvalidRequest("limit", "'limit' must be an integer between 1 and 1000.")
		}
		p.Limit = n
	}
	if s := q.Get("offset"); s != "" || q.Has("offset") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, apierror.InvalidRequest("offset", "'offset' must be a non-negative integer.")
		}
		p.Offset = n
	}
	return p, nil
}

// fetchPage loads one page through fetch and reports whether more rows follow.
// The store caps a page at maxLimit rows, so a full page of maxLimit is followed
// by a one-row probe instead of asking for limit+1.
func fetchPage[T any](p store.Page, fetch func(store.Page) ([]T, error)) ([]T, bool, error) {
	if p.Limit < maxLimit {
		rows, err := fetch(store.Page{Limit: p.Limit + 1, Offset: p.Offset})
		if err != nil {
			return nil, false, err
		}
		if len(rows) > p.Limit {
			return rows[:p.Limit], true, nil
		}
		return rows, false, nil
	}
	rows, err := fetch(p)
	if err != nil || len(rows) < p.Limit {
		return rows, false, err
	}
	next, err := fetch(store.Page{Limit: 1, Offset: p.Offset + p.Limit})
	return rows, len(next) > 0, err
}

// slicePage pages a list the store returns whole.
func slicePage[T any](all []T, p store.Page) ([]T, bool) {
	if p.Offset >= len(all) {
		return nil, false
	}
	end := min(p.Offset+p.Limit, len(all))
	return all[p.Offset:end], end < len(all)
}

// mapSlice converts every element of in.
func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// pathID parses a numeric id path parameter.
func pathID(r *http.Request, what string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, apierror.InvalidRequest("id", "The "+what+" id must be a positive integer.")
	}
	return id, nil
}

// clientHost is the host part of the request's remote address.
func clientHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
