package main

import (
	"bytes"
	"runtime"
	"runtime/trace"
	"strings"
	"testing"
	"time"
)

// schedBusyWork holds its goroutine's P for d without a blocking call.
//
//go:noinline
func schedBusyWork(d time.Duration) int {
	n := 0
	for start := time.Now(); time.Since(start) < d; n++ {
	}
	return n
}

// TestSchedAttribution: on one P, a goroutine made runnable while another
// busy-loops waits for it (until the runtime preempts the loop, about 10 ms),
// and sched puts that wait on the busy loop's kind of work.
func TestSchedAttribution(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skip("tracing unavailable:", err)
	}
	done := make(chan struct{})
	go func() { close(done) }() // runnable now; runs when the loop below yields the P
	schedBusyWork(30 * time.Millisecond)
	<-done
	trace.Stop()

	rep, err := analyzeSched(&buf, time.Millisecond, append([]schedRule{{"schedBusyWork", "busy loop"}}, schedRules...), 1)
	if err != nil {
		t.Fatal(err)
	}
	if rep.long == 0 {
		t.Fatalf("no wait ≥ 1 ms; waits: %v", rep.waits)
	}
	if share := float64(rep.during["busy loop"]) / float64(rep.longTotal); share < 0.5 {
		t.Errorf("the busy loop held the P for %.0f %% of the long waits, want most: %v", 100*share, rep.during)
	}
	var out strings.Builder
	rep.write(&out)
	if !strings.Contains(out.String(), "busy loop") {
		t.Errorf("report:\n%s", out.String())
	}
	if len(rep.longest) != 1 || rep.longest[0].kind != "busy loop" || !strings.Contains(out.String(), "schedBusyWork (") {
		t.Errorf("the longest run is not the busy loop with its stack: %+v\n%s", rep.longest, out.String())
	}
}
