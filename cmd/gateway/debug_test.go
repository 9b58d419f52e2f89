package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"testing"
)

func TestDebugListenerServesProfiles(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serveDebug(ln)
	t.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String()
	for path, want := range map[string]string{
		"/debug/pprof/":        "goroutine",
		"/debug/pprof/cmdline": "",
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Fatalf("GET %s: %d %.200s", path, resp.StatusCode, b)
		}
	}
	if resp, err := http.Get(base + "/v1/models"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the debug listener serves only the profiler: %v %v", resp, err)
	}
}

func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tuneGC("", log)
	if got := debug.SetGCPercent(100); got != defaultGOGC {
		t.Fatalf("GOGC unset: GC percent %d, want %d", got, defaultGOGC)
	}
	tuneGC("50", log) // the operator's GOGC (applied by the runtime) is kept
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC set by the operator: GC percent changed to %d", got)
	}
}
