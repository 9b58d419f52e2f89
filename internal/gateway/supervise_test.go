package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/antigravity/gateway/internal/metrics"
	dto "github.com/prometheus/client_model/go"
)

// TestSuperviseRestartsAPanickingLoop: a background loop that panics is
// logged, counted and started again after a pause that doubles; one that
// returns (its context ended) is not.
func TestSuperviseRestartsAPanickingLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		var mu sync.Mutex
		g := &Gateway{log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: metrics.New()}
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		var runs []time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			g.supervise(ctx, "flaky", func(ctx context.Context) {
				mu.Lock()
				runs = append(runs, time.Since(start))
				n := len(runs)
				mu.Unlock()
				if n <= 3 {
					panic("bug in a reload")
				}
				<-ctx.Done()
			})
		}()
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		<-done

		want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second}
		if len(runs) != len(want) {
			t.Fatalf("runs at %v, want %v", runs, want)
		}
		for i := range want {
			if runs[i] != want[i] {
				t.Fatalf("runs at %v, want %v", runs, want)
			}
		}
		var m dto.Metric
		if err := g.Metrics.BackgroundPanics.WithLabelValues("flaky").Write(&m); err != nil {
			t.Fatal(err)
		}
		if n := m.GetCounter().GetValue(); n != 3 {
			t.Errorf("gateway_background_panics_total{loop=flaky} = %v, want 3", n)
		}
		if s := logs.String(); strings.Count(s, "background loop panicked") != 3 || !strings.Contains(s, "bug in a reload") {
			t.Errorf("log:\n%s", s)
		}
	})
}
