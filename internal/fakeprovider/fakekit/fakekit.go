// Package fakekit holds what the fake provider upstreams (anthropicfake,
// geminifake) share: the request log, reading a request body under a size
// limit, parsing behaviours, deterministic tool arguments, JSON answers and
// latency waits.
package fakekit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/antigravity/gateway/internal/fakeprovider"
)

// MaxBody is the largest request body a fake accepts.
const MaxBody = 32 << 20

// Recorder is a fake's request log; it is safe for concurrent use.
type Recorder struct {
	limit int // the log's bound; negative disables recording

	mu  sync.Mutex
	log []fakeprovider.Recorded
}

// NewRecorder returns a log of at most limit requests (0: 1000, oldest
// dropped first); a negative limit disables recording.
func NewRecorder(limit int) *Recorder {
	if limit == 0 {
		limit = 1000
	}
	return &Recorder{limit: limit}
}

// Requests returns the recorded requests, oldest first.
func (r *Recorder) Requests() []fakeprovider.Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]fakeprovider.Recorded(nil), r.log...)
}

// Reset forgets the recorded requests.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.log = nil
	r.mu.Unlock()
}

// ReadBody reads req's body (at most MaxBody bytes), records the request and
// puts the body back for the handlers. The error is that of reading.
func (r *Recorder) ReadBody(w http.ResponseWriter, req *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBody))
	r.record(req, body)
	if err != nil {
		return err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return nil
}

func (r *Recorder) record(req *http.Request, body []byte) {
	if r.limit < 0 {
		return
	}
	rec := fakeprovider.Recorded{Method: req.Method, Path: req.URL.Path, RawQuery: req.URL.RawQuery, Header: req.Header.Clone(), Body: body}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.log) >= r.limit {
		r.log = append(r.log[:0], r.log[1:]...)
	}
	r.log = append(r.log, rec)
}

// Behaviors is a set of behaviour flags.
type Behaviors interface{ ~uint8 | ~uint16 | ~uint32 }

// ParseBehavior returns the flags named in s (comma-separated, any case);
// unknown names are ignored.
func ParseBehavior[B Behaviors](s string, names map[string]B) B {
	var b B
	for _, name := range strings.Split(s, ",") {
		b |= names[strings.ToLower(strings.TrimSpace(name))]
	}
	return b
}

// BehaviorOf returns the behaviours of a request: the BehaviorHeader's if it
// has one, else those named by the model.
func BehaviorOf[B Behaviors](r *http.Request, model string, names map[string]B) B {
	if h, ok := r.Header[fakeprovider.BehaviorHeader]; ok {
		return ParseBehavior(strings.Join(h, ","), names)
	}
	return ParseBehavior(model, names)
}

// SchemaValues returns deterministic arguments for a JSON schema: a value per
// property ("fake" for strings, 1 for numbers, true for booleans, [] and {},
// else null), its keys sorted as Go's JSON encoding sorts map keys.
func SchemaValues(schema json.RawMessage) json.RawMessage {
	var s struct {
		Properties map[string]struct {
			Type any `json:"type"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(schema, &s)
	in := map[string]any{}
	for name, p := range s.Properties {
		t, _ := p.Type.(string)
		switch strings.ToLower(t) {
		case "string":
			in[name] = "fake"
		case "number", "integer":
			in[name] = 1
		case "boolean":
			in[name] = true
		case "array":
			in[name] = []any{}
		case "object":
			in[name] = map[string]any{}
		default:
			in[name] = nil
		}
	}
	b, _ := json.Marshal(in) // map keys are sorted
	return b
}

// WriteJSON answers status with body, of the given Content-Type.
func WriteJSON(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Sleep waits d, or less if ctx ends first; it reports whether d elapsed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
