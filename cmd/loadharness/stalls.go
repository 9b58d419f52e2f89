package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// stallLimits are the gap lengths the stall meter counts.
var stallLimits = [...]time.Duration{50 * time.Microsecond, 300 * time.Microsecond, time.Millisecond}

// stallStats is what the stall meter saw on one CPU: a thread that only reads
// the clock, so every gap between two readings longer than 50 µs is time the
// CPU gave to something else (the hypervisor, the kernel, another process).
// It is the floor under every proxy's tail on that CPU: a request in flight
// during a stall waits for it.
type stallStats struct {
	CPU      string        `json:"cpu"`
	Duration time.Duration `json:"duration"`
	Stalled  time.Duration `json:"stalled"` // sum of the gaps > 50 µs
	Counts   [3]int        `json:"counts"`  // gaps > 50 µs, > 300 µs, > 1 ms
	Max      time.Duration `json:"max"`
}

// measureStalls spins on the clock for d and counts the gaps.
func measureStalls(d time.Duration) stallStats {
	st := stallStats{Duration: d}
	start := time.Now()
	last := start
	for {
		now := time.Now()
		gap := now.Sub(last)
		last = now
		if gap > stallLimits[0] {
			st.Stalled += gap
			for i, l := range stallLimits {
				if gap > l {
					st.Counts[i]++
				}
			}
			st.Max = max(st.Max, gap)
		}
		if now.Sub(start) >= d {
			return st
		}
	}
}

// runStalls is the stalls role: the stall meter, printed as JSON. The
// orchestrator runs it pinned to each CPU of the run while its own processes
// are idle.
func runStalls(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("loadharness stalls", flag.ContinueOnError)
	d := fs.Duration("d", 3*time.Second, "how long to measure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(measureStalls(*d))
}

// machineStalls runs the stall meter in a child pinned to cpu.
func machineStalls(ctx context.Context, self, cpu string, d time.Duration) (stallStats, error) {
	out, err := exec.CommandContext(ctx, "taskset", "-c", cpu, self, "stalls", "-d", d.String()).Output()
	if err != nil {
		return stallStats{}, fmt.Errorf("stall meter on CPU %s: %w", cpu, err)
	}
	var st stallStats
	if err := json.Unmarshal(out, &st); err != nil {
		return stallStats{}, fmt.Errorf("stall meter on CPU %s: %w", cpu, err)
	}
	st.CPU = cpu
	return st, nil
}

// describe renders the stats as one clause of the report.
func (s stallStats) describe() string {
	secs := s.Duration.Seconds()
	if secs <= 0 {
		return "CPU " + s.CPU + ": no measurement"
	}
	return fmt.Sprintf("CPU %s lost %.1f %% of its time (%.0f gaps/s > 50 µs, %.1f/s > 300 µs, %.1f/s > 1 ms, longest %.2f ms)",
		s.CPU, 100*s.Stalled.Seconds()/secs, float64(s.Counts[0])/secs, float64(s.Counts[1])/secs,
		float64(s.Counts[2])/secs, float64(s.Max.Microseconds())/1000)
}
