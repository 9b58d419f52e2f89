package upstream

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestLatencyEWMA(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name          string
		samples       [][2]time.Duration // ttft, per-token
		ttft, perTok  time.Duration
		known         bool
		expected100   time.Duration // Expected for 100 output tokens
		expectedKnown bool
	}{
		{"no sample", nil, 0, 0, false, 0, false},
		{"first sample taken as is", [][2]time.Duration{{100 * ms, 10 * ms}}, 100 * ms, 10 * ms, true, 1100 * ms, true},
		{"second sample moves it by alpha", [][2]time.Duration{{100 * ms, 10 * ms}, {200 * ms, 20 * ms}}, 120 * ms, 12 * ms, true, 1320 * ms, true},
		{"zero per-token leaves that average alone", [][2]time.Duration{{100 * ms, 10 * ms}, {300 * ms, 0}}, 140 * ms, 10 * ms, true, 1140 * ms, true},
		{"ttft only (non-streaming)", [][2]time.Duration{{500 * ms, 0}}, 500 * ms, 0, true, 500 * ms, true},
		{"nothing measured is no sample", [][2]time.Duration{{0, 0}, {-ms, 0}}, 0, 0, false, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var l LatencyStats
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for _, s := range tc.samples {
				l.Observe(now, s[0], s[1])
			}
			ttft, perTok, known := l.Values()
			if !near(ttft, tc.ttft) || !near(perTok, tc.perTok) || known != tc.known {
				t.Fatalf("values %v %v %v, want %v %v %v", ttft, perTok, known, tc.ttft, tc.perTok, tc.known)
			}
			d, ok := l.Expected(now, 100, DefaultStaleAfter)
			if !near(d, tc.expected100) || ok != tc.expectedKnown {
				t.Fatalf("expected %v %v, want %v %v", d, ok, tc.expected100, tc.expectedKnown)
			}
		})
	}
}

func near(a, b time.Duration) bool { return a-b < time.Microsecond && b-a < time.Microsecond }

// TestLatencyStale: an old measurement no longer counts, so the endpoint is
// explored again; a negative staleAfter never expires.
func TestLatencyStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l LatencyStats
		l.Observe(time.Now(), time.Second, 0)
		time.Sleep(DefaultStaleAfter)
		if _, ok := l.Expected(time.Now(), 1, DefaultStaleAfter); !ok {
			t.Fatal("stale exactly at the limit")
		}
		time.Sleep(time.Nanosecond)
		if _, ok := l.Expected(time.Now(), 1, DefaultStaleAfter); ok {
			t.Fatal("an old sample is still trusted")
		}
		if _, ok := l.Expected(time.Now(), 1, -1); !ok {
			t.Fatal("negative staleAfter expired the sample")
		}
		if l.LastSample().IsZero() {
			t.Fatal("last sample time lost")
		}
	})
}

// TestLatencyConcurrent: concurrent samples of one value keep the average at
// that value (no torn update; run with -race).
func TestLatencyConcurrent(t *testing.T) {
	var l LatencyStats
	now := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				l.Observe(now, 50*time.Millisecond, 5*time.Millisecond)
			}
		})
	}
	wg.Wait()
	if ttft, perTok, _ := l.Values(); !near(ttft, 50*time.Millisecond) || !near(perTok, 5*time.Millisecond) {
		t.Fatalf("%v %v", ttft, perTok)
	}
}
