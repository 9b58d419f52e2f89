// Package server assembles the HTTP surface of the gateway: the API routes, the
// admin API, health and metrics, and the middleware every request goes through
// (request id, URL repair, panic recovery, one access-log line per request).
package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/metrics"
	"github.com/antigravity/gateway/internal/proxy"
	"github.com/antigravity/gateway/internal/reqscope"
)

// Registrar adds routes to a mux.
type Registrar interface {
	Register(mux *http.ServeMux)
}

// Checker reports whether a dependency is ready.
type Checker func(ctx context.Context) error

// Deps are the parts the server is assembled from.
type Deps struct {
	API     Registrar
	Admin   Registrar
	Extra   []Registrar
	Metrics *metrics.Metrics
	// Ready checks, by name, for /readyz.
	Ready map[string]Checker
	Log   *slog.Logger
	// AccessLog, when set, is the writer under Log's handler (a JSONHandler):
	// the access-log line is then written there directly, byte for byte as
	// the handler would write it, in a tenth of the time
	// (reqscope.Scope.AppendLogLine). Log's level still decides whether it is.
	AccessLog io.Writer
	Now       func() time.Time
}

// New returns the gateway's root handler.
func New(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	mux := http.NewServeMux()
	if d.API != nil {
		d.API.Register(mux)
	}
	if d.Admin != nil {
		d.Admin.Register(mux)
	}
	for _, x := range d.Extra {
		x.Register(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", readyz(d.Ready))
	if d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics.Handler())
	}
	rt := &root{mux: mux, d: d}
	// Anything no route matches is answered in OpenAI's shape, not text/plain.
	mux.HandleFunc("/", rt.unmatched)
	return rt
}

type root struct {
	mux *http.ServeMux
	d   Deps
	// lineBufs are access-log line buffers (AccessLog copies what it is given).
	lineBufs sync.Pool
}

func (s *root) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.d.Now()
	sc := &reqscope.Scope{ID: reqscope.NewID(start), Start: start}
	w.Header().Set("x-request-id", sc.ID)
	rw := &statusWriter{ResponseWriter: w}
	r = r.WithContext(reqscope.With(r.Context(), sc))
	proxy.RepairURL(r)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.d.Log.Error("panic serving request", "request_id", sc.ID, "panic", p)
			if !rw.wrote {
				apierror.Write(rw, apierror.Internal(nil))
			}
		}
		if sc.Status == 0 {
			sc.Status = rw.status
		}
		s.observe(sc)
	}()
	s.mux.ServeHTTP(rw, r)
}

// unmatched answers requests no route matches: 405 when the path exists with
// another method, 404 otherwise.
func (s *root) unmatched(w http.ResponseWriter, r *http.Request) {
	if _, allowed := s.methodAllowed(r); allowed {
		apierror.Write(w, apierror.MethodNotAllowed(r.Method))
		return
	}
	apierror.Write(w, apierror.RouteNotFound(r.URL.Path))
}

// methodAllowed reports whether the path exists with another method.
func (s *root) methodAllowed(r *http.Request) (string, bool) {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" && p != "/" {
			return m, true
		}
	}
	return "", false
}

func (s *root) observe(sc *reqscope.Scope) {
	now := s.d.Now()
	if s.d.Metrics != nil && sc.Route != "" {
		model := "" // unknown models count together: callers choose the names
		if sc.ModelKnown {
			model = sc.Model
		}
		s.d.Metrics.Requests.WithLabelValues(sc.Route, model, metricsCode(sc.Status)).Inc()
		s.d.Metrics.Duration.WithLabelValues(sc.Route).Observe(now.Sub(sc.Start).Seconds())
	}
	if sc.Route == "" && sc.Status < 400 {
		return // health, readiness and metrics scrapes are not logged
	}
	// The record is built here rather than by Logger.LogAttrs, which records
	// the caller's program counter (runtime.Callers) for a source the access
	// log never shows: 1 % of the gateway's CPU at 1,000 req/s.
	ctx := context.Background()
	if h := s.d.Log.Handler(); h.Enabled(ctx, slog.LevelInfo) {
		if s.d.AccessLog != nil {
			bp, _ := s.lineBufs.Get().(*[]byte)
			if bp == nil {
				bp = new([]byte)
			}
			line, ok := sc.AppendLogLine((*bp)[:0], now)
			if ok {
				_, _ = s.d.AccessLog.Write(line)
			}
			*bp = line
			s.lineBufs.Put(bp)
			if ok {
				return
			}
		}
		rec := slog.NewRecord(now, slog.LevelInfo, "request", 0)
		rec.AddAttrs(sc.LogAttrs(now)...)
		_ = h.Handle(ctx, rec)
	}
}

func metricsCode(status int) string { return metrics.Code(status) }

// statusWriter remembers the status written; it keeps http.Flusher and the
// rest reachable through Unwrap (http.ResponseController).
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func readyz(checks map[string]Checker) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status := http.StatusOK
		out := map[string]string{}
		for name, check := range checks {
			if err := check(ctx); err != nil {
				status = http.StatusServiceUnavailable
				out[name] = "error: " + err.Error()
			} else {
				out[name] = "ok"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(encodeChecks(out))
	}
}
