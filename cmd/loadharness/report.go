package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Markers delimiting the generated part of a report file: -out replaces what
// lies between them and keeps the rest of the file.
const (
	beginMarker = "<!-- loadharness:begin -->"
	endMarker   = "<!-- loadharness:end -->"
)

// dbFigures is the PostgreSQL transaction count of the production gateway.
type dbFigures struct {
	measured bool
	commits  int64
	requests int
	err      error
}

// report is everything a run measured.
type report struct {
	cfg          *config
	version      string // what the gateway was built from
	started      time.Time
	took         time.Duration
	load0, load1 string
	subjects     []*subject
	scenarios    []*scenarioResult
	maxes        map[string]*maxResult
	sat          []*satResult // budget pairs, closed loop
	db           dbFigures
	flushes      map[string][2]float64 // gateway → usage batches, rows
	stalls       []stallStats          // machine noise, before the scenarios
	quiet        quietWait             // -wait-quiet
}

func (r *report) markdown() string {
	c := r.cfg
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("%s\n", beginMarker)
	p("### Run of %s\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	p("- Machine: %s, %d CPUs", cpuModel(), runtime.NumCPU())
	if c.pin {
		p("; proxies (bare, gateways) pinned to CPU %s, load driver and fake provider to CPU %s (taskset)", c.proxyCPU, c.driverCPU)
		if c.pinServices && c.pgAdmin != "" {
			p("; the bench database's PostgreSQL backends and the Redis server, which stand for other hosts, also to CPU %s", c.driverCPU)
		}
		p(".\n")
	} else {
		p("; **unpinned**.\n")
	}
	p("- Load average before / after: %s / %s; the run took %s.\n", r.load0, r.load1, r.took.Round(time.Second))
	if len(r.stalls) > 0 {
		parts := make([]string, len(r.stalls))
		for i, st := range r.stalls {
			parts[i] = st.describe()
		}
		p("- Machine noise before the scenarios (a pinned thread that only reads the clock, every process of the run idle; "+
			"a request in flight during such a gap waits for it, so it is a floor under every proxy's tail, the bare one's included): %s.\n",
			strings.Join(parts, "; "))
	}
	if q := r.quiet; q.asked > 0 {
		if q.found {
			p("- Waited %s for a quiet machine (the stall meter under %.1f %% on both CPUs, -wait-quiet) before the scenarios.\n",
				q.waited.Round(time.Second), c.quietBelow)
		} else {
			p("- **The machine was not quiet** (the stall meter under %.1f %% on both CPUs) within -wait-quiet %s; the run went on anyway.\n",
				c.quietBelow, q.asked)
		}
	}
	p("- Fake provider: non-streamed replies after %s; streams of %d words, the first after %s, then one every %s. ",
		c.latency, c.tokens, c.streamFirst, c.streamToken)
	extra := ""
	if len(c.gatewayEnv) > 0 {
		extra = "; extra environment " + strings.Join(c.gatewayEnv, " ")
	}
	p("Gateways (built from %s): keys, usage rows, metrics and the access log (level %s) on; %s%s.\n",
		r.version, c.logLevel, runtime.Version(), extra)
	p("- Method: %d rounds per scenario, each giving every target %s in turn (%s), after a %s warm-up per target; "+
		"open-loop constant-rate driver; latency from sending to the last byte (full stream for streams); "+
		"added = target − direct on the merged samples; CPU from /proc/<pid>/stat over the target's turns "+
		"(the direct row shows the fake provider's CPU and RSS).",
		c.rounds, c.roundDur, r.order(), c.warmup)
	if c.budgets {
		p(" A `%s` target is the same gateway process as the target before it, called with the key of a user "+
			"with a budget (%d USD a month); its RSS is the shared process's.", budgetSuffix, budgetUSD)
	}
	p("\n\n")

	for _, sc := range r.scenarios {
		r.scenarioTable(&b, sc)
	}
	r.maxTable(&b)
	r.budgetSection(&b)
	r.dbSection(&b)
	r.targets(&b)
	p("%s\n", endMarker)
	return b.String()
}

func (r *report) order() string {
	names := make([]string, len(r.subjects))
	for i, s := range r.subjects {
		names[i] = s.name
	}
	return strings.Join(names, " → ")
}

func (r *report) scenarioTable(b *strings.Builder, sc *scenarioResult) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("#### Scenario %s\n\n", sc.title)
	p("| target | requests | errors | p50 ms | p99 ms | added p50 ms | added p99 ms | p50 − bare ms | p99 − bare ms | CPU µs/req | × bare | RSS MiB (peak) |\n")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	d := sc.tallies["direct"]
	bare := sc.tallies["bare"]
	for _, s := range r.subjects {
		t := sc.tallies[s.name]
		if t == nil {
			continue
		}
		errs := fmt.Sprint(t.errs)
		if t.errs > 0 {
			errs += " (" + topKind(t.kinds) + ")"
		}
		added50, added99, vsBare, vsBare99, cpu, ratio := "—", "—", "—", "—", "—", "—"
		if s.isProxy() && d != nil && t.sum.Count > 0 && d.sum.Count > 0 {
			added50 = fmt.Sprintf("%+.3f", ms(t.sum.P50-d.sum.P50))
			added99 = fmt.Sprintf("%+.3f", ms(t.sum.P99-d.sum.P99))
		}
		if s.kind == kindGateway && bare != nil && t.sum.Count > 0 && bare.sum.Count > 0 {
			vsBare = fmt.Sprintf("%+.3f", ms(t.sum.P50-bare.sum.P50))
			vsBare99 = fmt.Sprintf("%+.3f", ms(t.sum.P99-bare.sum.P99))
		}
		if t.sent > 0 {
			per := float64(t.cpu.Microseconds()) / float64(t.sent)
			if s.isProxy() {
				cpu = fmt.Sprintf("%.0f", per)
				if bare != nil && bare.sent > 0 && bare.cpu > 0 {
					ratio = fmt.Sprintf("%.2f", per/(float64(bare.cpu.Microseconds())/float64(bare.sent)))
				}
			} else {
				cpu = fmt.Sprintf("(fake: %.0f)", per)
			}
		}
		p("| %s | %d | %s | %.3f | %.3f | %s | %s | %s | %s | %s | %s | %.1f (%.1f) |\n", s.name, t.sent, errs,
			ms(t.sum.P50), ms(t.sum.P99), added50, added99, vsBare, vsBare99, cpu, ratio, float64(t.rssKB)/1024, float64(t.hwmKB)/1024)
	}
	p("\n")
	r.overheadTable(b, sc)
	var pgCPU time.Duration
	pgKnown := false
	for _, s := range r.subjects {
		if t := sc.tallies[s.name]; s.redis && t != nil && t.pgKnown && t.sent > 0 {
			p("PostgreSQL backends of %s used another %.0f µs of CPU per request (not in its figure above). ",
				s.name, float64(t.pgCPU.Microseconds())/float64(t.sent))
			pgCPU += t.pgCPU
			pgKnown = true
		}
	}
	if d != nil && len(d.roundP50) > 0 {
		var parts []string
		for _, s := range r.subjects {
			t := sc.tallies[s.name]
			if !s.isProxy() || t == nil {
				continue
			}
			var rs []string
			for i := range min(len(t.roundP50), len(d.roundP50)) {
				st := ""
				if r.cfg.pin && i < len(t.roundSteal) && t.roundSteal[i] >= 0 {
					st = fmt.Sprintf(" (steal %.0f %%)", 100*t.roundSteal[i])
				}
				rs = append(rs, fmt.Sprintf("%+.3f / %+.3f%s", ms(t.roundP50[i]-d.roundP50[i]), ms(t.roundP99[i]-d.roundP99[i]), st))
			}
			med := ""
			if m, ok := medianAdded(t.roundP99, d.roundP99); ok {
				med = fmt.Sprintf(" (median p99 %+.3f)", ms(m))
			}
			parts = append(parts, s.name+" "+strings.Join(rs, ", ")+med)
		}
		p("Added p50 / p99 round by round, each round's target against the direct calls of the same round (ms; in brackets the hypervisor's steal of the proxies' CPU during the target's turn): %s.",
			strings.Join(parts, "; "))
	}
	var calls []string
	for _, s := range r.subjects {
		if t := sc.tallies[s.name]; t != nil && !t.ioFailed && t.sent > 0 {
			calls = append(calls, fmt.Sprintf("%s %.2f / %.2f", s.name,
				float64(t.sysReads)/float64(t.sent), float64(t.sysWrites)/float64(t.sent)))
		}
	}
	if len(calls) > 0 {
		p(" Read / write system calls per request (/proc/<pid>/io; direct: the fake's): %s.", strings.Join(calls, "; "))
	}
	var steal []string
	var worst float64
	for _, s := range r.subjects {
		if t := sc.tallies[s.name]; t != nil && !t.stealFailed && t.turns > 0 && r.cfg.pin {
			sp, sd := float64(t.stealProxy)/float64(t.turns), float64(t.stealDriver)/float64(t.turns)
			steal = append(steal, fmt.Sprintf("%s %.1f %% / %.1f %%", s.name, 100*sp, 100*sd))
			worst = max(worst, sp, sd)
		}
	}
	if len(steal) > 0 {
		p(" Time the hypervisor took from the proxies' / the driver's CPU during each target's turns (steal, /proc/stat, 10 ms ticks; a vCPU that is idle accrues none, so it understates what the stall meter counts): %s.", strings.Join(steal, "; "))
		if worst > stealWarn {
			p(" **The hypervisor took more than %.0f %% of a CPU during some turns: the latency tails of this scenario measure the host, not the proxies.**", 100*stealWarn)
		}
	}
	var own []string
	for _, s := range r.subjects {
		if t := sc.tallies[s.name]; t != nil && t.ownKnown {
			own = append(own, fmt.Sprintf("%s p50 %.3f, p99 %.3f, max %.3f (%d requests)", s.name,
				ms(t.own.P50), ms(t.own.P99), ms(t.own.Max), t.own.Count))
		}
	}
	if len(own) > 0 {
		p(" The gateways' own time per request, from their access logs (duration − wait for the upstream's response headers; the tail of the added latency above is mostly the machine's scheduling of the extra hop, which this leaves out), ms: %s.", strings.Join(own, "; "))
	}
	if sc.foreignKnown && sc.wall > 0 {
		var parts []string
		for _, cpu := range []int{firstCPU(r.cfg.proxyCPU), firstCPU(r.cfg.driverCPU)} {
			parts = append(parts, fmt.Sprintf("CPU %d %.0f%%", cpu, 100*float64(sc.foreign[cpu])/float64(sc.wall)))
		}
		p(" Busy time of other processes during the rounds: %s", strings.Join(parts, ", "))
		if pgKnown {
			p(" (the bench database's PostgreSQL backends, on either core, account for %.0f%% of one core)",
				100*float64(pgCPU)/float64(sc.wall))
		}
		p(".")
		for _, cpu := range []int{firstCPU(r.cfg.proxyCPU), firstCPU(r.cfg.driverCPU)} {
			if sc.foreign[cpu] > sc.wall*15/100 {
				p(" **Other processes used more than 15%% of CPU %d during these rounds: the figures are not reliable.**", cpu)
				break
			}
		}
	}
	if d != nil {
		var lag time.Duration
		for _, t := range sc.tallies {
			lag = max(lag, t.maxLag)
		}
		p(" Worst driver lag behind schedule: %.1f ms.", ms(lag))
	}
	p("\n\n")
}

// medianAdded is the median over the rounds of target − direct, the rounds
// paired by index (the mean of the middle two when even).
func medianAdded(target, direct []time.Duration) (time.Duration, bool) {
	n := min(len(target), len(direct))
	if n == 0 {
		return 0, false
	}
	diffs := make([]time.Duration, n)
	for i := range n {
		diffs[i] = target[i] - direct[i]
	}
	slices.Sort(diffs)
	if n%2 == 1 {
		return diffs[n/2], true
	}
	return (diffs[n/2-1] + diffs[n/2]) / 2, true
}

// overheadTable gives the scenario's latencies with the fake provider's own
// time on each request taken out (servicetime.go).
func (r *report) overheadTable(b *strings.Builder, sc *scenarioResult) {
	d, bare := sc.tallies["direct"], sc.tallies["bare"]
	if d == nil || d.overSum.Count == 0 {
		if d != nil && d.serviceErr != nil {
			fmt.Fprintf(b, "The fake provider's service times could not be read (%v).\n\n", d.serviceErr)
		}
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("The same requests, each less the fake provider's own time on it (from reading the request to the end of its reply, " +
		"reported by the fake per request): what the path around the fake costs. The fake's timer jitter on the driver's " +
		"busy core cancels here request by request, where above it differs from one turn to the next.\n\n")
	p("| target | timed | p50 ms | p99 ms | added p50 ms | added p99 ms | p50 − bare ms | p99 − bare ms |\n")
	p("|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range r.subjects {
		t := sc.tallies[s.name]
		if t == nil {
			continue
		}
		timed := fmt.Sprint(t.overSum.Count)
		if t.untimed > 0 {
			timed += fmt.Sprintf(" (%d untimed)", t.untimed)
		}
		if t.overSum.Count == 0 {
			p("| %s | %s | — | — | — | — | — | — |\n", s.name, timed)
			continue
		}
		added50, added99, vsBare50, vsBare99 := "—", "—", "—", "—"
		if s.isProxy() {
			added50 = fmt.Sprintf("%+.3f", ms(t.overSum.P50-d.overSum.P50))
			added99 = fmt.Sprintf("%+.3f", ms(t.overSum.P99-d.overSum.P99))
		}
		if s.kind == kindGateway && bare != nil && bare.overSum.Count > 0 {
			vsBare50 = fmt.Sprintf("%+.3f", ms(t.overSum.P50-bare.overSum.P50))
			vsBare99 = fmt.Sprintf("%+.3f", ms(t.overSum.P99-bare.overSum.P99))
		}
		p("| %s | %s | %.3f | %.3f | %s | %s | %s | %s |\n", s.name, timed, ms(t.overSum.P50), ms(t.overSum.P99),
			added50, added99, vsBare50, vsBare99)
	}
	p("\n")
}

func (r *report) maxTable(b *strings.Builder) {
	if len(r.maxes) == 0 {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("#### Maximum sustained rate (non-streaming)\n\n")
	p("Steps of %s from %g req/s, ×1.5 until one fails (errors > 0.1%%, p99 > %s, or the driver > 10%% behind), "+
		"then one bisection; at most %s per target. The direct row is the ceiling of the driver's core.\n\n",
		r.cfg.maxStep, r.cfg.maxStart, r.cfg.maxP99, r.cfg.maxBudget)
	p("| target | max sustained req/s | first failing rate | why | steps |\n|---|--:|--:|---|---|\n")
	for _, s := range r.subjects {
		m := r.maxes[s.name]
		if m == nil {
			continue
		}
		best, fail := "< "+fmt.Sprint(r.cfg.maxStart), "—"
		if m.best > 0 {
			best = fmt.Sprintf("%.0f", m.best)
		}
		if m.failAt > 0 {
			fail = fmt.Sprintf("%.0f", m.failAt)
		} else if m.best > 0 {
			best = "≥ " + best + " (budget or cap reached)"
		}
		p("| %s | %s | %s | %s | %s |\n", s.name, best, fail, m.reason, strings.Join(m.steps, "; "))
	}
	p("\n")
}

func (r *report) dbSection(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("#### Database round trips\n\n")
	switch {
	case r.db.err != nil:
		p("- production: could not read pg_stat_database: %v\n", r.db.err)
	case r.db.measured && r.db.requests > 0:
		p("- production: %d committed transactions in the bench database (pg_stat_database.xact_commit) over %d requests "+
			"to the production gateway (both keys), background work included: **%.4f per request**.\n",
			r.db.commits, r.db.requests, float64(r.db.commits)/float64(r.db.requests))
	}
	for _, s := range r.subjects {
		f, ok := r.flushes[s.name]
		if !ok {
			continue
		}
		per := 0.0
		if f[0] > 0 {
			per = f[1] / f[0]
		}
		p("- %s: usage writer wrote %.0f rows in %.0f batches (%.0f rows per batch, from /metrics).\n", s.name, f[1], f[0], per)
	}
	p("\n")
}

// targets checks the figures against issue 2's targets.
func (r *report) targets(b *strings.Builder) {
	if len(r.scenarios) == 0 {
		return
	}
	a := r.scenarios[0]
	d, bare := a.tallies["direct"], a.tallies["bare"]
	var gws []*subject
	for _, s := range r.subjects {
		if s.kind == kindGateway {
			gws = append(gws, s)
		}
	}
	if d == nil || len(gws) == 0 {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("#### Against the targets (scenario A)\n\n| target |")
	for _, s := range gws {
		p(" %s |", s.name)
	}
	p("\n|---|")
	for range gws {
		p("---|")
	}
	p("\n")
	mark := func(ok bool) string {
		if ok {
			return "✅"
		}
		return "❌"
	}
	row := func(name string, cell func(s *subject, t *tally) string) {
		p("| %s |", name)
		for _, s := range gws {
			p(" %s |", cell(s, a.tallies[s.name]))
		}
		p("\n")
	}
	row("added p50 ≤ 0.3 ms", func(_ *subject, t *tally) string {
		v := ms(t.sum.P50 - d.sum.P50)
		return fmt.Sprintf("%.3f %s", v, mark(v <= 0.3))
	})
	row("added p99 ≤ 1.5 ms", func(_ *subject, t *tally) string {
		v := ms(t.sum.P99 - d.sum.P99)
		return fmt.Sprintf("%.3f %s", v, mark(v <= 1.5))
	})
	if len(d.roundP99) > 1 {
		row(fmt.Sprintf("added p99 ≤ 1.5 ms, median of the %d rounds", len(d.roundP99)), func(_ *subject, t *tally) string {
			m, ok := medianAdded(t.roundP99, d.roundP99)
			if !ok {
				return "?"
			}
			return fmt.Sprintf("%.3f %s", ms(m), mark(ms(m) <= 1.5))
		})
	}
	perRequest := d.overSum.Count > 0
	if perRequest {
		row("added p50 ≤ 0.3 ms, the fake's time removed per request", func(_ *subject, t *tally) string {
			if t.overSum.Count == 0 {
				return "?"
			}
			v := ms(t.overSum.P50 - d.overSum.P50)
			return fmt.Sprintf("%.3f %s", v, mark(v <= 0.3))
		})
		row("added p99 ≤ 1.5 ms, the fake's time removed per request", func(_ *subject, t *tally) string {
			if t.overSum.Count == 0 {
				return "?"
			}
			v := ms(t.overSum.P99 - d.overSum.P99)
			return fmt.Sprintf("%.3f %s", v, mark(v <= 1.5))
		})
	}
	row("CPU/request ≤ 2× bare", func(_ *subject, t *tally) string {
		if bare == nil || bare.sent == 0 || bare.cpu == 0 || t.sent == 0 {
			return "?"
		}
		v := (float64(t.cpu) / float64(t.sent)) / (float64(bare.cpu) / float64(bare.sent))
		return fmt.Sprintf("%.2f× %s", v, mark(v <= 2))
	})
	row("no database round trip per request", func(s *subject, _ *tally) string {
		if s.redis && r.db.measured && r.db.requests > 0 {
			v := float64(r.db.commits) / float64(r.db.requests)
			return fmt.Sprintf("%.4f commits/req %s", v, mark(v < 0.1))
		}
		name := s.name
		if s.budget {
			name = s.pair // the same process
		}
		if f, ok := r.flushes[name]; ok && f[1] > 0 {
			return fmt.Sprintf("%.0f rows/batch (SQLite)", f[1]/max(f[0], 1))
		}
		return "?"
	})
	row("errors", func(_ *subject, t *tally) string { return fmt.Sprintf("%d %s", t.errs, mark(t.errs == 0)) })
	p("\n")
}

// writeReport writes text into path: between the markers when the file has
// them (the rest of the file is kept), else as the whole file.
func writeReport(path, text string) error {
	old, err := os.ReadFile(path)
	if err == nil {
		s := string(old)
		i := strings.Index(s, beginMarker)
		j := strings.Index(s, endMarker)
		if i >= 0 && j > i {
			text = s[:i] + strings.TrimSuffix(text, "\n") + s[j+len(endMarker):]
		}
	}
	return os.WriteFile(path, []byte(text), 0o644)
}

// stealWarn is the share of a CPU the hypervisor may take during a target's
// turns before the report says the scenario's tails measure the host.
const stealWarn = 0.01
