package reqscope

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// viaSlog is the line slog's JSONHandler writes for the scope at now.
func viaSlog(t testing.TB, s *Scope, now time.Time) string {
	var out bytes.Buffer
	rec := slog.NewRecord(now, slog.LevelInfo, "request", 0)
	rec.AddAttrs(s.LogAttrs(now)...)
	if err := slog.NewJSONHandler(&out, nil).Handle(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestAppendLogLine holds the hand-written access-log line to slog's.
func TestAppendLogLine(t *testing.T) {
	start := time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.UTC)
	full := Scope{ID: "req_019ac3e4f5a6b7c8d9e0f1a2", Start: start, Route: "chat.completions", UserOID: "u-1", KeyID: 7,
		AppID: "app", Model: "gpt-4o", Stream: true, Tokens: 57, Endpoint: "gpt-4o#3", Attempts: 2,
		Upstream: 20*time.Millisecond + 345*time.Microsecond, Status: 200, ErrorCode: "upstream_error"}
	cases := []struct {
		name string
		s    Scope
		now  time.Time
	}{
		{"every field", full, start.Add(21*time.Millisecond + 7*time.Microsecond)},
		{"bare", Scope{ID: "req_x", Start: start, Route: "models", Status: 401, ErrorCode: "invalid_api_key"}, start.Add(300 * time.Microsecond)},
		{"zero duration", Scope{ID: "req_x", Start: start, Route: "models", Status: 200}, start},
		{"negative duration", Scope{ID: "req_x", Start: start, Route: "models", Status: 200}, start.Add(-1500 * time.Microsecond)},
		{"whole milliseconds", Scope{ID: "req_x", Start: start, Route: "r", Status: 200}, start.Add(2 * time.Second)},
		{"long", Scope{ID: "req_x", Start: start, Route: "r", Status: 200}, start.Add(3 * time.Hour)},
		{"escapes", Scope{ID: "req_\"q\"", Start: start, Route: "r", Status: 200, Model: "a\\b\n\r\t\x01\x1f<>&é😀\u2028\u2029\xff\xc3", UserOID: "o'k"}, start.Add(time.Millisecond)},
		{"time zone", Scope{ID: "req_x", Start: start, Route: "r", Status: 200}, start.In(time.FixedZone("X", 5*3600+1800)).Add(time.Microsecond)},
		{"monotonic clock", Scope{ID: "req_x", Start: time.Now(), Route: "r", Status: 200}, time.Now()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.s.AppendLogLine(nil, tc.now)
			if !ok {
				t.Fatal("not written")
			}
			if want := viaSlog(t, &tc.s, tc.now); string(got) != want {
				t.Errorf("\n got %s\nwant %s", got, want)
			}
		})
	}
	if _, ok := full.AppendLogLine(nil, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); ok {
		t.Error("a year slog flags was written")
	}
}

// FuzzAppendLogLine: for any field values, the line is slog's.
func FuzzAppendLogLine(f *testing.F) {
	f.Add("req_1", "chat.completions", "u", "app", "gpt-4o", "ep#1", "code", int64(7), int64(1500), int64(20000), 200, true)
	f.Add("\x00\"\\", "\u2028", "\xff", "", "é", "", "", int64(0), int64(-3), int64(0), 0, false)
	f.Fuzz(func(t *testing.T, id, route, user, app, model, endpoint, code string, key, durUS, upUS int64, status int, stream bool) {
		start := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
		s := Scope{ID: id, Start: start, Route: route, UserOID: user, AppID: app, Model: model, Endpoint: endpoint,
			ErrorCode: code, KeyID: key, Status: status, Stream: stream, Upstream: time.Duration(upUS) * time.Microsecond}
		now := start.Add(time.Duration(durUS%(1<<40)) * time.Microsecond)
		got, ok := s.AppendLogLine(nil, now)
		if !ok {
			return
		}
		if want := viaSlog(t, &s, now); string(got) != want {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkAccessLogLine(b *testing.B) {
	start := time.Now()
	s := Scope{ID: "req_019ac3e4f5a6b7c8d9e0f1a2", Start: start, Route: "chat.completions", UserOID: "u-1", KeyID: 7,
		Model: "gpt-4o", Tokens: 57, Endpoint: "gpt-4o#3", Attempts: 1, Upstream: 20 * time.Millisecond, Status: 200}
	now := start.Add(21 * time.Millisecond)
	b.Run("slog", func(b *testing.B) {
		h := slog.NewJSONHandler(discard{}, nil)
		for b.Loop() {
			rec := slog.NewRecord(now, slog.LevelInfo, "request", 0)
			rec.AddAttrs(s.LogAttrs(now)...)
			_ = h.Handle(context.Background(), rec)
		}
	})
	b.Run("AppendLogLine", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf, _ = s.AppendLogLine(buf[:0], now)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
