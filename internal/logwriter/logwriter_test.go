package logwriter

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// sink is a goroutine-safe buffer that counts its writes.
type sink struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
	fail   error
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return 0, s.fail
	}
	s.writes++
	return s.b.Write(p)
}

func (s *sink) state() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String(), s.writes
}

func TestBuffersInfoFlushesWarnAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &sink{}
		w := New(s, 0, 100*time.Millisecond)
		log := slog.New(slog.NewJSONHandler(w, nil))
		for i := range 50 {
			log.Info("request", "n", i)
		}
		if out, n := s.state(); n != 0 || out != "" {
			t.Fatalf("info lines written at once: %d writes", n)
		}
		log.Warn("upstream slow")
		out, n := s.state()
		if n != 1 || strings.Count(out, "\n") != 51 || !strings.Contains(out, `"msg":"upstream slow"`) {
			t.Fatalf("after a warning: %d writes, %d lines", n, strings.Count(out, "\n"))
		}
		log.Info("later")
		time.Sleep(99 * time.Millisecond)
		synctest.Wait()
		if out, _ := s.state(); strings.Contains(out, "later") {
			t.Fatal("flushed before the interval")
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if out, n := s.state(); !strings.Contains(out, "later") || n != 2 {
			t.Fatalf("not flushed by the interval: %d writes", n)
		}
		log.Info("at close")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if out, _ := s.state(); !strings.HasSuffix(out, "\"msg\":\"at close\"}\n") {
			t.Fatalf("Close did not flush: %q", out[max(0, len(out)-60):])
		}
	})
}

func TestFullBufferIsWrittenOut(t *testing.T) {
	s := &sink{}
	w := New(s, 256, time.Hour)
	line := strings.Repeat("x", 99) + "\n"
	for range 10 {
		if _, err := w.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if out, _ := s.state(); len(out) < 1000-256 {
		t.Fatalf("%d bytes written out of 1000 with a 256-byte buffer", len(out))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out, _ := s.state(); out != strings.Repeat(line, 10) {
		t.Fatalf("after Close: %d bytes, want the 10 lines", len(out))
	}
}

func TestCloseReportsWriteError(t *testing.T) {
	s := &sink{fail: errors.New("disk full")}
	w := New(s, 0, time.Hour)
	_, _ = w.Write([]byte(`{"level":"ERROR","msg":"x"}` + "\n"))
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close: %v", err)
	}
}
