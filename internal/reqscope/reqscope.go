// Package reqscope is the one per-request record kept in the context: filled in
// as the request goes through the gateway, written once to the access log.
package reqscope

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"
)

// Scope describes one request. Only the goroutine serving the request writes it.
type Scope struct {
	ID      string
	Start   time.Time
	Route   string
	UserOID string
	KeyID   int64
	AppID   string
	Model   string // as the request named it
	// ModelKnown says Model is a configured model, so a metrics label may
	// carry it (a name the caller made up would add a series each).
	ModelKnown bool
	Endpoint   string
	Status     int
	ErrorCode  string
	Stream     bool
	Tokens     int64
	Attempts   int
	// Upstream is the time spent waiting for upstream response headers,
	// over every attempt: duration minus it is the gateway's own share.
	Upstream time.Duration
}

type ctxKey struct{}

// With returns ctx carrying s.
func With(ctx context.Context, s *Scope) context.Context { return context.WithValue(ctx, ctxKey{}, s) }

// From returns the scope of ctx; a throwaway one if there is none, so callers
// never need to check.
func From(ctx context.Context) *Scope {
	if s, ok := ctx.Value(ctxKey{}).(*Scope); ok {
		return s
	}
	return &Scope{}
}

// NewID returns a request id made at now: "req_", 12 hex characters of the
// Unix time in milliseconds, then 16 of randomness. Ids of later
// milliseconds sort after earlier ones, so the usage tables' request-id
// indexes grow at their right edge: random ids would put each row of a usage
// batch on a different page of the index, and a commit writes every page it
// touched (in SQLite, random ids cost a quarter more CPU per row once the
// table holds 64k rows: BenchmarkInsertUsageIDOrder; half more at 192k, with
// its prefill raised to 3,000 batches).
func NewID(now time.Time) string {
	var b [14]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
	return "req_" + hex.EncodeToString(b[:])
}

// LogAttrs are the access-log fields. Keys and prompts are never part of a scope.
func (s *Scope) LogAttrs(now time.Time) []slog.Attr {
	attrs := make([]slog.Attr, 0, 15) // every field: one allocation, no growth
	attrs = append(attrs,
		slog.String("request_id", s.ID),
		slog.String("route", s.Route),
		slog.Int("status", s.Status),
		slog.Float64("duration_ms", float64(now.Sub(s.Start).Microseconds())/1000),
	)
	if s.UserOID != "" {
		attrs = append(attrs, slog.String("user", s.UserOID))
	}
	if s.KeyID != 0 {
		attrs = append(attrs, slog.Int64("key_id", s.KeyID))
	}
	if s.AppID != "" {
		attrs = append(attrs, slog.String("app_id", s.AppID))
	}
	if s.Model != "" {
		attrs = append(attrs, slog.String("model", s.Model), slog.Bool("stream", s.Stream), slog.Int64("tokens", s.Tokens))
	}
	if s.Endpoint != "" {
		attrs = append(attrs, slog.String("endpoint", s.Endpoint), slog.Int("attempts", s.Attempts),
			slog.Float64("upstream_ms", float64(s.Upstream.Microseconds())/1000))
	}
	if s.ErrorCode != "" {
		attrs = append(attrs, slog.String("error_code", s.ErrorCode))
	}
	return attrs
}
