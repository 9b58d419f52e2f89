package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/jsonscan"
)

// request is a parsed OpenAI request body. Only the fields the gateway needs are
// decoded; every other field is kept as raw JSON and passed through untouched.
type request struct {
	raw    []byte
	fields map[string]json.RawMessage

	Model        string
	Stream       bool
	IncludeUsage bool  // the client asked for the usage chunk
	MaxOutput    int64 // max_completion_tokens or max_tokens; 0 if absent
	// changed reports that fields were modified and the body must be re-encoded.
	changed bool
}

// parseRequest decodes an API request body. It returns 400s naming the parameter
// at fault, never a panic or a 500.
func parseRequest(body []byte, needMessages bool) (*request, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, apierror.InvalidRequest("", "The request body is empty; send a JSON object.")
	}
	if body[0] != '{' {
		return nil, apierror.InvalidRequest("", "The request body must be a JSON object.")
	}
	req := &request{raw: body}
	if !json.Valid(body) {
		var v any // only to word the error
		err := json.Unmarshal(body, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, apierror.InvalidRequest("", "We could not parse the JSON body of your request: "+jsonErrText(err))
	}
	// The values are subslices of body (no copy): a prompt of 100 KB is
	// scanned once here, not copied and decoded.
	req.fields = make(map[string]json.RawMessage, 8)
	if !jsonscan.Members(body, func(k string, v []byte) { req.fields[k] = v }) {
		// Not reached for a valid object (fuzzed); decoding is the safe side.
		req.fields = nil
		if err := json.Unmarshal(body, &req.fields); err != nil {
			return nil, apierror.InvalidRequest("", "We could not parse the JSON body of your request: "+jsonErrText(err))
		}
	}
	if err := req.stringField("model", &req.Model); err != nil {
		return nil, err
	}
	if req.Model == "" {
		return nil, apierror.InvalidRequest("model", "You must provide a model parameter.")
	}
	if raw, ok := req.fields["stream"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &req.Stream); err != nil {
			return nil, apierror.InvalidRequest("stream", "Invalid type for 'stream': expected a boolean.")
		}
	}
	if raw, ok := req.fields["stream_options"]; ok && !isNull(raw) {
		var so struct {
			IncludeUsage *bool `json:"include_usage"`
		}
		if err := json.Unmarshal(raw, &so); err != nil {
			return nil, apierror.InvalidRequest("stream_options", "Invalid 'stream_options': expected an object with a boolean 'include_usage'.")
		}
		req.IncludeUsage = so.IncludeUsage != nil && *so.IncludeUsage
	}
	for _, name := range []string{"max_tokens", "max_completion_tokens"} {
		raw, ok := req.fields[name]
		if !ok || isNull(raw) {
			continue
		}
		var n int64
		if err := json.Unmarshal(raw, &n); err != nil || n < 1 {
			return nil, apierror.InvalidRequest(name, "Invalid '"+name+"': expected a positive integer.")
		}
		if name == "max_completion_tokens" || req.MaxOutput == 0 {
			req.MaxOutput = n
		}
	}
	if needMessages {
		raw, ok := req.fields["messages"]
		if !ok || isNull(raw) {
			return nil, apierror.InvalidRequest("messages", "Missing required parameter: 'messages'.")
		}
		if raw[0] != '[' {
			return nil, apierror.InvalidRequest("messages", "Invalid type for 'messages': expected an array of message objects.")
		}
		if len(bytes.TrimSpace(raw[1:len(raw)-1])) == 0 {
			return nil, apierror.InvalidRequest("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1.")
		}
	}
	return req, nil
}

func (r *request) stringField(name string, dst *string) error {
	raw, ok := r.fields[name]
	if !ok || isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return apierror.InvalidRequest(name, "Invalid type for '"+name+"': expected a string.")
	}
	return nil
}

// set replaces a top-level field.
func (r *request) set(name string, v json.RawMessage) {
	r.fields[name] = v
	r.changed = true
}

// forceUsage makes a streaming request ask the upstream for the usage chunk,
// keeping any other stream option the client set.
func (r *request) forceUsage() {
	if !r.Stream || r.IncludeUsage {
		return
	}
	so := map[string]json.RawMessage{}
	if raw, ok := r.fields["stream_options"]; ok && !isNull(raw) {
		_ = json.Unmarshal(raw, &so) // validated by parseRequest
	}
	so["include_usage"] = json.RawMessage("true")
	b, _ := json.Marshal(so)
	r.set("stream_options", b)
}

// body returns the bytes to send upstream: the original ones when nothing changed.
func (r *request) body() ([]byte, error) {
	if !r.changed {
		return r.raw, nil
	}
	// Splice the changes into the client's bytes; encoding/json only when
	// that fails (it then names the invalid value).
	if b, ok := jsonscan.Rewrite(r.raw, r.fields); ok {
		return b, nil
	}
	return json.Marshal(r.fields)
}

func isNull(raw json.RawMessage) bool { return len(raw) == 4 && string(raw) == "null" }

func jsonErrText(err error) string {
	s := err.Error()
	return strings.TrimPrefix(s, "json: ")
}

// quote returns s as a JSON string, as encoding/json writes it. A string of
// printable ASCII that JSON and encoding/json's HTML escaping leave alone (a
// model name, always in practice) is copied between quotes, without
// reflection.
func quote(s string) json.RawMessage {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return b
		}
	}
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
