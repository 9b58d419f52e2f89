package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

// The sched role reads a Go execution trace of a proxy under load (the
// gateway's GATEWAY_DEBUG_LISTEN serves /debug/pprof/trace?seconds=N) and
// answers where the tail of its scheduling latency comes from. On a proxy with
// one P, a goroutine made runnable (a request whose bytes arrived, an upstream
// reply) waits for whatever holds the P; those waits are most of a request's
// added p99. For every wait over a threshold it adds up what ran on the P
// meanwhile, by kind of work, and the rest (nothing ran: the P was idle or in a
// system call, or the host took the CPU). It found the PostgreSQL usage
// writer's 0.3–2.4 ms runs in session 6.

// schedRule names the kind of work of a goroutine run whose stack holds a
// function with Contains in its name; the first rule that matches wins.
type schedRule struct{ contains, kind string }

// schedRules are the kinds of work of the gateway and the bare proxy.
var schedRules = []schedRule{
	{"runtime.gcBgMarkWorker", "GC worker"},
	{"runtime.(*traceAdvancerState)", "the tracer itself"},
	{"/internal/store/", "usage writer and store"},
	{"/internal/usage.", "usage writer and store"},
	{"jackc/pgx", "PostgreSQL driver"},
	{"redis/go-redis", "Redis client"},
	{"/internal/logwriter", "log writer"},
}

// otherWork is the kind of every run no rule names: requests (net/http and
// the handlers).
const otherWork = "requests (net/http, handlers)"

// nothingRan is the share of a wait when no goroutine ran on the P.
const nothingRan = "nothing ran (P idle or in a system call, or the host took the CPU)"

// schedRun is one stretch of a goroutine running.
type schedRun struct {
	start, end  trace.Time
	kind        string
	begin, stop trace.Stack // where it started and where it stopped
}

// schedReport is what sched finds.
type schedReport struct {
	waits     []time.Duration // every runnable → running wait
	threshold time.Duration
	long      int                      // waits ≥ threshold
	longTotal time.Duration            // their sum
	during    map[string]time.Duration // what ran during them, by kind
	runs      map[string][]time.Duration
	longest   []schedRun // the longest runs, longest first (-longest)
}

func runSched(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadharness sched", flag.ContinueOnError)
	threshold := fs.Duration("threshold", 300*time.Microsecond, "waits at least this long are attributed")
	longest := fs.Int("longest", 0, "also print the N longest goroutine runs, with where each started and stopped")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: loadharness sched [-threshold 300us] TRACE")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := analyzeSched(f, *threshold, schedRules, *longest)
	if err != nil {
		return err
	}
	rep.write(stdout)
	return nil
}

// analyzeSched reads the trace r.
func analyzeSched(r io.Reader, threshold time.Duration, rules []schedRule, longest int) (*schedReport, error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return nil, err
	}
	type wait struct{ from, to trace.Time }
	runnable := map[trace.GoID]trace.Time{}
	running := map[trace.GoID]trace.Time{}
	startStack := map[trace.GoID]trace.Stack{}
	var waits []wait
	var runs []schedRun
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		id := st.Resource.Goroutine()
		from, to := st.Goroutine()
		if from == trace.GoRunning {
			if t, ok := running[id]; ok {
				runs = append(runs, schedRun{t, ev.Time(), kindOf(rules, ev.Stack(), startStack[id]), startStack[id], ev.Stack()})
				delete(running, id)
			}
		}
		switch to {
		case trace.GoRunnable:
			runnable[id] = ev.Time()
		case trace.GoRunning:
			if t, ok := runnable[id]; ok {
				waits = append(waits, wait{t, ev.Time()})
				delete(runnable, id)
			}
			running[id] = ev.Time()
			startStack[id] = st.Stack
		}
	}
	rep := &schedReport{threshold: threshold, during: map[string]time.Duration{}, runs: map[string][]time.Duration{}}
	sort.Slice(runs, func(i, j int) bool { return runs[i].start < runs[j].start })
	for _, r := range runs {
		rep.runs[r.kind] = append(rep.runs[r.kind], r.end.Sub(r.start))
	}
	if longest > 0 {
		rep.longest = slices.Clone(runs)
		slices.SortFunc(rep.longest, func(a, b schedRun) int { return cmp.Compare(b.end.Sub(b.start), a.end.Sub(a.start)) })
		rep.longest = rep.longest[:min(longest, len(rep.longest))]
	}
	for _, w := range waits {
		d := w.to.Sub(w.from)
		rep.waits = append(rep.waits, d)
		if d < threshold {
			continue
		}
		rep.long++
		rep.longTotal += d
		covered := time.Duration(0)
		k := sort.Search(len(runs), func(j int) bool { return runs[j].end > w.from })
		for ; k < len(runs) && runs[k].start < w.to; k++ {
			if s, e := max(runs[k].start, w.from), min(runs[k].end, w.to); e > s {
				rep.during[runs[k].kind] += e.Sub(s)
				covered += e.Sub(s)
			}
		}
		rep.during[nothingRan] += d - covered
	}
	return rep, nil
}

// kindOf names the work of a run from the stacks where it stopped and started.
func kindOf(rules []schedRule, stacks ...trace.Stack) string {
	for _, rule := range rules {
		for _, s := range stacks {
			for f := range s.Frames() {
				if strings.Contains(f.Func, rule.contains) {
					return rule.kind
				}
			}
		}
	}
	return otherWork
}

// write prints the report.
func (rep *schedReport) write(w io.Writer) {
	slices.Sort(rep.waits)
	pw := func(p float64) time.Duration { return percentile(rep.waits, p) }
	fmt.Fprintf(w, "scheduling waits (runnable → running): %d; p50 %v, p90 %v, p99 %v, p99.9 %v, max %v\n",
		len(rep.waits), pw(50), pw(90), pw(99), pw(99.9), pw(100))
	if rep.long > 0 {
		fmt.Fprintf(w, "waits ≥ %v: %d (%.2f %%), %v in all; what held the P meanwhile:\n",
			rep.threshold, rep.long, 100*float64(rep.long)/float64(len(rep.waits)), rep.longTotal)
		for _, k := range sortedKinds(rep.during) {
			fmt.Fprintf(w, "  %5.1f %%  %s\n", 100*float64(rep.during[k])/float64(rep.longTotal), k)
		}
	}
	fmt.Fprintln(w, "goroutine runs by kind: count, total, p99, longest")
	for _, k := range sortedKinds(total(rep.runs)) {
		ds := rep.runs[k]
		slices.Sort(ds)
		fmt.Fprintf(w, "  %-34s %7d %12v %10v %10v\n", k, len(ds), sum(ds), percentile(ds, 99), percentile(ds, 100))
	}
	for i, r := range rep.longest {
		fmt.Fprintf(w, "longest run %d: %v, %s\n", i+1, r.end.Sub(r.start), r.kind)
		writeStack(w, "started", r.begin)
		writeStack(w, "stopped", r.stop)
	}
}

// writeStack prints the innermost frames of s.
func writeStack(w io.Writer, what string, s trace.Stack) {
	fmt.Fprintf(w, "  %s at:\n", what)
	n := 0
	if s == trace.NoStack {
		fmt.Fprintln(w, "    (the trace has no stack for this event)")
		return
	}
	for f := range s.Frames() {
		if n++; n > 12 {
			fmt.Fprintln(w, "    …")
			return
		}
		fmt.Fprintf(w, "    %s (%s:%d)\n", f.Func, f.File, f.Line)
	}
}

func total(m map[string][]time.Duration) map[string]time.Duration {
	out := make(map[string]time.Duration, len(m))
	for k, ds := range m {
		out[k] = sum(ds)
	}
	return out
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

// sortedKinds are m's keys, largest value first.
func sortedKinds(m map[string]time.Duration) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
