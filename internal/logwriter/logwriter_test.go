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
		synctest.Wait() // the flusher writes it out at once
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
	synctest.Test(t, func(t *testing.T) {
		s := &sink{}
		w := New(s, 256, time.Hour)
		line := strings.Repeat("x", 99) + "\n"
		for range 10 {
			if _, err := w.Write([]byte(line)); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
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
	})
}

// stalled is an output whose writes block until released.
type stalled struct {
	sink
	release chan struct{}
}

func (s *stalled) Write(p []byte) (int, error) {
	<-s.release
	return s.sink.Write(p)
}

// TestStalledOutputDoesNotBlockLoggers: while the output is stuck (a busy
// disk, a slow pipe), logging goes on; every line is written once it frees.
// (Real time, not synctest: a logger stuck on the writer's mutex is not
// durably blocked, and the test must fail rather than hang.)
func TestStalledOutputDoesNotBlockLoggers(t *testing.T) {
	s := &stalled{release: make(chan struct{})}
	released := false
	defer func() {
		if !released {
			close(s.release)
		}
	}()
	w := New(s, 256, 10*time.Millisecond)
	log := slog.New(slog.NewJSONHandler(w, nil))
	go log.Warn("first") // the flusher takes it and blocks in the output
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		for i := range 1000 {
			log.Info("request", "n", i)
		}
		log.Error("still logging")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("loggers wait for a stalled output")
	}
	close(s.release)
	released = true
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, _ := s.state()
	if n := strings.Count(out, "\n"); n != 1002 || !strings.HasSuffix(out, "\"msg\":\"still logging\"}\n") {
		t.Fatalf("after the stall: %d lines", n)
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
