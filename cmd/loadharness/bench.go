package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subject kinds.
const (
	kindDirect  = "direct"
	kindBare    = "bare"
	kindGateway = "gateway"
)

// subject is one target of the run: the fake provider called directly, the
// bare proxy, or a gateway.
type subject struct {
	name string
	kind string
	base string
	proc *proc // the proxy process measured; the fake provider's for direct
	gw   *gatewayClient
	key  string
	sent int // every request sent to it, warm-ups and max-rate steps included

	budget bool   // its key's user has a budget: every request reserves and settles
	pair   string // of a budget subject: the subject of the same process without budget
	redis  bool   // a production-mode gateway (its budgets live in Redis)
}

// target is the request the driver sends to s.
func (s *subject) target(stream bool) Target {
	model, prefix := modelNS, nonStreamPrefix
	if stream {
		model, prefix = modelST, streamPrefix
	}
	h := http.Header{"Content-Type": {"application/json"}}
	url := s.base + prefix + "/v1/chat/completions"
	if s.kind == kindGateway {
		url = s.base + "/v1/chat/completions"
		h.Set("Authorization", "Bearer "+s.key)
	}
	return Target{Name: s.name, URL: url, Header: h, Body: requestBody(model, stream), Stream: stream}
}

// isProxy reports whether s is measured against the direct calls.
func (s *subject) isProxy() bool { return s.kind != kindDirect }

// bench is one run.
type bench struct {
	cfg      *config
	log      *log.Logger
	drv      *Driver
	dir      string
	fake     *proc
	subjects []*subject
	procs    []*proc // every child, in start order
	dbURL    string
	redis    *redis.Client // production mode's Redis, for INFO commandstats (nil: not measured)
	pins     servicePins   // services pinned to the driver CPUs (services.go)
}

// scenario is one load shape measured on every subject.
type scenario struct {
	title  string
	stream bool
	rate   float64
}

// tally is what a scenario measured on one subject, over its rounds.
type tally struct {
	lat      []time.Duration
	roundP50 []time.Duration
	roundP99 []time.Duration
	sent, ok int
	errs     int
	kinds    map[string]int
	cpu      time.Duration // the subject's process
	// Read and write system calls of the subject's process over its turns
	// (ioFailed: some turn's could not be read).
	sysReads, sysWrites int64
	ioFailed            bool
	pgCPU               time.Duration // PostgreSQL backends of the bench database (production)
	pgKnown             bool
	rssKB, hwmKB        int64
	maxLag              time.Duration
	sum                 Summary // of lat, once the rounds are over
	// Per request, latency minus the fake's own time on it (servicetime.go),
	// its summary once the rounds are over, and the successful requests
	// without a service time.
	over       []time.Duration
	overSum    Summary
	untimed    int
	serviceErr error
	windows    []window // the turns (gateways: to read their own time from the access log)
	// Steal time (/proc/stat) of the proxies' and the driver's CPUs over the
	// turns, and the turns' length (stealFailed: some turn's could not be read).
	stealProxy, stealDriver, turns time.Duration
	stealFailed                    bool
	roundSteal                     []float64 // per turn: the proxies' CPU's steal share (-1: unknown)
	own                            Summary   // gateways, non-streaming: own time per request (owntime.go)
	ownKnown                       bool

	// Production gateways: Redis script calls (INFO commandstats, server-wide)
	// and the microseconds Redis spent in them over the turns, and the
	// gateway's budget scripts by name (/metrics).
	redisKnown            bool
	redisCalls, redisUsec int64
	scriptsKnown          bool
	scripts               map[string]float64
}

// scenarioResult is a scenario's tallies, by subject name, and the CPU time
// others spent on the two cores meanwhile.
type scenarioResult struct {
	scenario
	tallies      map[string]*tally
	wall         time.Duration
	foreign      map[int]time.Duration // by CPU: busy time not spent by the run's processes
	foreignKnown bool
}

// maxResult is the max-rate search on one subject.
type maxResult struct {
	best   float64 // highest sustained rate, 0 if none
	failAt float64 // lowest rate that failed, 0 if none did
	reason string
	steps  []string
}

// orchestrate runs the whole benchmark and reports it.
func orchestrate(ctx context.Context, c *config, stdout, stderr io.Writer) (err error) {
	b := &bench{cfg: c, log: log.New(stderr, "loadharness: ", log.Ltime)}
	if c.pin {
		if _, err := exec.LookPath("taskset"); err != nil {
			return errors.New("taskset not found (util-linux); install it or run with -pin=false")
		}
		if runtime.NumCPU() < 2 {
			b.log.Print("fewer than 2 CPUs: running unpinned")
			c.pin = false
		}
	}
	b.dir, err = os.MkdirTemp("", "loadharness-")
	if err != nil {
		return err
	}
	defer func() {
		b.unpinServices()
		b.stopAll()
		if b.redis != nil {
			_ = b.redis.Close()
		}
		if c.pgAdmin != "" && b.dbURL != "" && !c.keepTemp {
			if err := dropDatabase(c.pgAdmin, c.pgDB); err != nil {
				b.log.Printf("dropping %s: %v", c.pgDB, err)
			}
		}
		if c.keepTemp {
			b.log.Printf("kept %s", b.dir)
		} else {
			_ = os.RemoveAll(b.dir)
		}
	}()

	started := time.Now()
	load0 := loadAvg()
	b.log.Print("building the gateway")
	version := sourceVersion(c)
	gwBin, err := gatewayBinary(ctx, c, b.dir)
	if err != nil {
		return err
	}
	if c.pin {
		if err := pinSelf(c.driverCPU); err != nil {
			return err
		}
		runtime.GOMAXPROCS(cpuCount(c.driverCPU))
	}
	b.drv = newDriver(c.timeout, c.maxInfl)
	if err := b.start(ctx, gwBin); err != nil {
		return err
	}

	var stalls []stallStats
	var quiet quietWait
	if c.pin {
		if c.waitQuiet > 0 {
			quiet = b.waitQuiet(ctx)
		}
		stalls = b.measureStalls(ctx)
	}
	var (
		results  []*scenarioResult
		maxes    = map[string]*maxResult{}
		commits0 int64
		errPG    error
	)
	prod := b.subject("gateway-production")
	if prod != nil {
		time.Sleep(2 * time.Second) // let PostgreSQL publish the set-up's statistics
		commits0, errPG = commits(ctx, c.pgAdmin, c.pgDB)
		for _, s := range b.sharing(prod) {
			s.sent = 0
		}
	}
	var scenarios []scenario
	if strings.Contains(c.scenarios, "A") {
		scenarios = append(scenarios, scenario{title: fmt.Sprintf("A: non-streaming, %g req/s", c.rate), rate: c.rate})
	}
	if strings.Contains(c.scenarios, "B") {
		scenarios = append(scenarios, scenario{title: fmt.Sprintf("B: streaming, %g streams/s", c.streamRt), stream: true, rate: c.streamRt})
	}
	for _, sc := range scenarios {
		r, err := b.runScenario(ctx, sc)
		if err != nil {
			return err
		}
		results = append(results, r)
		if c.perfDir != "" {
			b.profile(ctx, sc)
		}
	}
	var sat []*satResult
	if c.budgets && c.satWorkers > 0 {
		b.pinServices(ctx)
		sat = b.saturate(ctx)
	}
	if !c.skipMax {
		for _, s := range b.subjects {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			b.log.Printf("max-rate search: %s", s.name)
			maxes[s.name] = b.maxRate(ctx, s)
			// A search opens up to -max-inflight connections per target:
			// close them before the next, or the run runs out of files.
			b.drv.Client.CloseIdleConnections()
		}
	}
	db := dbFigures{err: errPG}
	if prod != nil && errPG == nil {
		time.Sleep(2 * time.Second)
		var n int64
		n, db.err = commits(ctx, c.pgAdmin, c.pgDB)
		db.commits, db.measured = n-commits0, db.err == nil
		for _, s := range b.sharing(prod) {
			db.requests += s.sent
		}
	}
	flushes := map[string][2]float64{}
	for _, s := range b.subjects {
		if s.gw != nil && !s.budget {
			f, r, err := s.gw.usageFlushes(ctx)
			if err == nil {
				flushes[s.name] = [2]float64{f, r}
			}
		}
	}
	for _, s := range b.subjects {
		if s.proc != nil && s.proc.exited() {
			return fmt.Errorf("%s died during the run (%v):\n%s", s.name, s.proc.err, s.proc.tail(3000))
		}
	}
	rep := &report{cfg: c, version: version, started: started, took: time.Since(started), load0: load0, load1: loadAvg(),
		subjects: b.subjects, scenarios: results, maxes: maxes, sat: sat, db: db, flushes: flushes, stalls: stalls, quiet: quiet}
	text := rep.markdown()
	if _, err := io.WriteString(stdout, text); err != nil {
		return err
	}
	if c.out != "" {
		if err := writeReport(c.out, text); err != nil {
			return err
		}
		b.log.Printf("wrote %s", c.out)
	}
	return nil
}

// cpuCount counts the CPUs of a taskset list such as "1", "0,2" or "2-3".
func cpuCount(list string) int {
	n := 0
	for part := range strings.SplitSeq(list, ",") {
		lo, hi, ok := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		bb, err2 := strconv.Atoi(hi)
		switch {
		case ok && err1 == nil && err2 == nil && bb >= a:
			n += bb - a + 1
		default:
			n++
		}
	}
	return max(n, 1)
}

// sharing returns the subjects served by s's process (s included): a gateway
// and its +budget target.
func (b *bench) sharing(s *subject) []*subject {
	var out []*subject
	for _, o := range b.subjects {
		if o.proc == s.proc {
			out = append(out, o)
		}
	}
	return out
}

func (b *bench) subject(name string) *subject {
	for _, s := range b.subjects {
		if s.name == name {
			return s
		}
	}
	return nil
}

// quietWait is what -wait-quiet found.
type quietWait struct {
	asked  time.Duration // -wait-quiet (0: not asked)
	waited time.Duration
	found  bool
}

// waitQuiet measures the stalls of both CPUs every 30 s until both lose less
// than -quiet-below of their time, or -wait-quiet has passed.
func (b *bench) waitQuiet(ctx context.Context) quietWait {
	q := quietWait{asked: b.cfg.waitQuiet}
	start := time.Now()
	for {
		quiet := true
		var parts []string
		for _, st := range b.measureStallsFor(ctx, 2*time.Second) {
			share := 100 * float64(st.Stalled) / float64(st.Duration)
			parts = append(parts, fmt.Sprintf("CPU %s %.1f %%", st.CPU, share))
			quiet = quiet && share < b.cfg.quietBelow
		}
		q.waited = time.Since(start)
		if len(parts) == 0 {
			b.log.Printf("the stall meter did not run; not waiting for a quiet machine")
			return q
		}
		if quiet {
			q.found = true
			b.log.Printf("machine quiet (%s) after %s", strings.Join(parts, ", "), q.waited.Round(time.Second))
			return q
		}
		if q.waited >= q.asked || ctx.Err() != nil {
			b.log.Printf("machine not quiet (%s) within %s; running anyway", strings.Join(parts, ", "), q.asked)
			return q
		}
		b.log.Printf("machine not quiet yet (%s); checking again in 30s", strings.Join(parts, ", "))
		select {
		case <-ctx.Done():
		case <-time.After(30 * time.Second):
		}
	}
}

// measureStalls runs the stall meter on the proxies' CPU and on the driver's,
// one after the other, while every process of the run is idle.
func (b *bench) measureStalls(ctx context.Context) []stallStats {
	d := 3 * time.Second
	if b.cfg.quick {
		d = time.Second
	}
	return b.measureStallsFor(ctx, d)
}

// measureStallsFor runs the stall meter for d on each CPU in turn.
func (b *bench) measureStallsFor(ctx context.Context, d time.Duration) []stallStats {
	self, err := os.Executable()
	if err != nil {
		b.log.Printf("stall meter: %v", err)
		return nil
	}
	var out []stallStats
	for _, list := range []string{b.cfg.proxyCPU, b.cfg.driverCPU} {
		cpu := strconv.Itoa(firstCPU(list))
		st, err := machineStalls(ctx, self, cpu, d)
		if err != nil {
			b.log.Print(err)
			continue
		}
		out = append(out, st)
	}
	return out
}

// start launches the fake provider, the bare proxy and the gateways, and
// configures the gateways.
func (b *bench) start(ctx context.Context, gwBin string) error {
	c := b.cfg
	self, err := os.Executable()
	if err != nil {
		return err
	}
	pin := func(cpus string) string {
		if c.pin {
			return cpus
		}
		return ""
	}
	addr := func() string { a, _ := freeAddr(); return a }

	fakeAddr := addr()
	b.fake, err = startProc("fake", filepath.Join(b.dir, "fake.log"), pin(c.driverCPU), childEnv(), self, "fake",
		"-listen", fakeAddr, "-latency", c.latency.String(), "-stream-first", c.streamFirst.String(),
		"-stream-token", c.streamToken.String(), "-tokens", strconv.Itoa(c.tokens))
	if err != nil {
		return err
	}
	b.procs = append(b.procs, b.fake)
	fakeURL := "http://" + fakeAddr
	b.drv.ServiceURL = fakeURL
	b.subjects = append(b.subjects, &subject{name: "direct", kind: kindDirect, base: fakeURL, proc: b.fake})

	bareAddr := addr()
	bare, err := startProc("bare", filepath.Join(b.dir, "bare.log"), pin(c.proxyCPU), childEnv(), self, "bare",
		"-listen", bareAddr, "-upstream", fakeURL)
	if err != nil {
		return err
	}
	b.procs = append(b.procs, bare)
	b.subjects = append(b.subjects, &subject{name: "bare", kind: kindBare, base: "http://" + bareAddr, proc: bare})
	for _, p := range []struct {
		p    *proc
		addr string
	}{{b.fake, fakeAddr}, {bare, bareAddr}} {
		if err := waitTCP(p.p, p.addr, 10*time.Second); err != nil {
			return err
		}
	}

	type mode struct{ name, dbURL string }
	var modes []mode
	if !c.skipEmbed {
		modes = append(modes, mode{name: "gateway-embedded"})
	}
	if c.pgAdmin != "" {
		b.dbURL, err = recreateDatabase(ctx, c.pgAdmin, c.pgDB)
		if err != nil {
			return fmt.Errorf("production mode (-pg \"\" skips it): %w", err)
		}
		modes = append(modes, mode{name: "gateway-production", dbURL: b.dbURL})
	}
	for _, m := range modes {
		gwAddr := addr()
		data := filepath.Join(b.dir, m.name+"-data")
		p, err := startProc(m.name, filepath.Join(b.dir, m.name+".log"), pin(c.proxyCPU),
			gatewayEnv(c, gwAddr, data, m.dbURL), gwBin)
		if err != nil {
			return err
		}
		b.procs = append(b.procs, p)
		gw := &gatewayClient{base: "http://" + gwAddr, http: &http.Client{Timeout: 10 * time.Second}}
		if err := gw.waitHealthy(ctx, p, 90*time.Second); err != nil {
			return err
		}
		key, err := gw.configure(ctx, fakeURL)
		if err != nil {
			return fmt.Errorf("configuring %s: %w\n%s", m.name, err, p.tail(3000))
		}
		prod := m.dbURL != ""
		b.subjects = append(b.subjects, &subject{name: m.name, kind: kindGateway, base: gw.base, proc: p, gw: gw, key: key, redis: prod})
		if c.budgets {
			bkey, err := gw.configureBudget(ctx)
			if err != nil {
				return fmt.Errorf("configuring the budget user of %s (-budgets=false skips it): %w\n%s", m.name, err, p.tail(3000))
			}
			b.subjects = append(b.subjects, &subject{name: m.name + budgetSuffix, kind: kindGateway, base: gw.base, proc: p,
				gw: gw, key: bkey, budget: true, pair: m.name, redis: prod})
		}
		b.log.Printf("%s ready (pid %d)", m.name, p.pid())
	}
	if c.budgets && b.dbURL != "" {
		opt, err := redis.ParseURL(c.redisURL)
		if err != nil {
			return fmt.Errorf("-redis: %w", err)
		}
		b.redis = redis.NewClient(opt)
		if _, _, err := redisScripts(ctx, b.redis); err != nil {
			b.log.Printf("INFO commandstats: %v; Redis round trips will not be reported", err)
			_ = b.redis.Close()
			b.redis = nil
		}
	}
	return nil
}

// stopAll stops the children, the gateways first (they drain and flush usage).
func (b *bench) stopAll() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		b.procs[i].stop(15 * time.Second)
	}
}

// run drives s and counts what was sent to it.
func (b *bench) run(ctx context.Context, s *subject, stream bool, rate float64, d time.Duration) *Result {
	r := b.drv.Run(ctx, s.target(stream), rate, d)
	s.sent += r.Sent
	return r
}

// runScenario warms every subject up, then measures them in alternating
// rounds: direct, bare, gateways, direct, bare, …
func (b *bench) runScenario(ctx context.Context, sc scenario) (*scenarioResult, error) {
	c := b.cfg
	res := &scenarioResult{scenario: sc, tallies: map[string]*tally{}}
	b.log.Printf("scenario %s: warm-up", sc.title)
	for _, s := range b.subjects {
		b.run(ctx, s, sc.stream, sc.rate, c.warmup)
		res.tallies[s.name] = &tally{kinds: map[string]int{}}
	}
	b.pinServices(ctx)
	busy0, errBusy := coreBusy()
	ours0 := b.cpuByCore()
	start := time.Now()
	for round := range c.rounds {
		b.log.Printf("scenario %s: round %d/%d", sc.title, round+1, c.rounds)
		for _, s := range b.subjects {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			t := res.tallies[s.name]
			var pg0 map[int]time.Duration
			var errPG error
			if s.redis {
				pg0, errPG = backendCPU(ctx, c.pgAdmin, c.pgDB)
			}
			rt := b.redisBefore(ctx, s)
			cpu0, _ := cpuTime(s.proc.pid())
			r0, w0, errIO := ioCalls(s.proc.pid())
			st0, errSt := coreTimes()
			from := time.Now()
			r := b.run(ctx, s, sc.stream, sc.rate, c.roundDur)
			t.windows = append(t.windows, window{from, time.Now()})
			st1, errSt1 := coreTimes()
			t.turns += time.Since(from)
			t.stealFailed = t.stealFailed || errSt != nil || errSt1 != nil
			share := -1.0
			if errSt == nil && errSt1 == nil {
				pc, dc := firstCPU(c.proxyCPU), firstCPU(c.driverCPU)
				t.stealProxy += st1[pc].steal - st0[pc].steal
				t.stealDriver += st1[dc].steal - st0[dc].steal
				share = float64(st1[pc].steal-st0[pc].steal) / float64(time.Since(from))
			}
			t.roundSteal = append(t.roundSteal, share)
			cpu1, _ := cpuTime(s.proc.pid())
			r1, w1, errIO1 := ioCalls(s.proc.pid())
			t.ioFailed = t.ioFailed || errIO != nil || errIO1 != nil
			t.sysReads += r1 - r0
			t.sysWrites += w1 - w0
			b.redisAfter(ctx, s, rt, t)
			if pg0 != nil && errPG == nil {
				// Rows of the round's last requests are written within the flush
				// interval: wait for them before reading.
				time.Sleep(300 * time.Millisecond)
				if pg1, err := backendCPU(ctx, c.pgAdmin, c.pgDB); err == nil {
					t.pgCPU += cpuDelta(pg0, pg1)
					t.pgKnown = true
				}
			}
			t.cpu += cpu1 - cpu0
			if rss, hwm, err := memory(s.proc.pid()); err == nil {
				t.rssKB, t.hwmKB = max(t.rssKB, rss), max(t.hwmKB, hwm)
			}
			t.sent += r.Sent
			t.ok += r.OK
			t.errs += r.Errors
			for k, n := range r.Kinds {
				t.kinds[k] += n
			}
			t.maxLag = max(t.maxLag, r.SendLag)
			rs := summarize(r.Latencies)
			t.roundP50 = append(t.roundP50, rs.P50)
			t.roundP99 = append(t.roundP99, rs.P99)
			t.lat = append(t.lat, r.Latencies...)
			t.over = append(t.over, r.Overheads...)
			t.untimed += r.Untimed
			if r.ServiceErr != nil {
				t.serviceErr = r.ServiceErr
			}
		}
	}
	res.wall = time.Since(start)
	busy1, errBusy2 := coreBusy()
	ours1 := b.cpuByCore()
	if errBusy == nil && errBusy2 == nil && c.pin {
		res.foreign, res.foreignKnown = map[int]time.Duration{}, true
		for _, cpu := range []int{firstCPU(c.proxyCPU), firstCPU(c.driverCPU)} {
			res.foreign[cpu] = max(0, busy1[cpu]-busy0[cpu]-(ours1[cpu]-ours0[cpu]))
		}
	}
	for _, t := range res.tallies {
		t.sum = summarize(t.lat)
		t.overSum = summarize(t.over)
	}
	if !sc.stream {
		time.Sleep(200 * time.Millisecond) // the log is written every 100 ms
		for _, s := range b.subjects {
			if s.kind != kindGateway {
				continue
			}
			t := res.tallies[s.name]
			if own, err := ownTimes(s.proc.log, t.windows); err == nil && len(own) > 0 {
				t.own, t.ownKnown = summarize(own), true
			}
		}
	}
	return res, nil
}

// cpuByCore sums the CPU time of the run's processes by the core they are
// pinned to (the first CPU of their list).
func (b *bench) cpuByCore() map[int]time.Duration {
	out := map[int]time.Duration{}
	proxyCPU, driverCPU := firstCPU(b.cfg.proxyCPU), firstCPU(b.cfg.driverCPU)
	if self, err := cpuTime(os.Getpid()); err == nil {
		out[driverCPU] += self
	}
	for _, p := range b.procs {
		cpu := proxyCPU
		if p == b.fake {
			cpu = driverCPU
		}
		if t, err := cpuTime(p.pid()); err == nil {
			out[cpu] += t
		}
	}
	return out
}

// maxRate searches the highest non-streaming rate s sustains: rates grow by
// half from -max-start until a step fails (errors above 0.1%, p99 above
// -max-p99, or the driver falling behind its schedule), then one step bisects.
// The search stops within -max-budget.
func (b *bench) maxRate(ctx context.Context, s *subject) *maxResult {
	c := b.cfg
	m := &maxResult{}
	used := time.Duration(0)
	step := func(rate float64) bool {
		r := b.run(ctx, s, false, rate, c.maxStep)
		used += r.Elapsed + 300*time.Millisecond
		sum := summarize(r.Latencies)
		ok, why := sustained(r, sum, c.maxStep, c.maxP99)
		verdict := "ok"
		if !ok {
			verdict = why
		}
		m.steps = append(m.steps, fmt.Sprintf("%.0f: %s", rate, verdict))
		time.Sleep(300 * time.Millisecond) // let the connections settle between steps
		if ok {
			m.best = max(m.best, rate)
		} else if m.failAt == 0 || rate < m.failAt {
			m.failAt, m.reason = rate, why
		}
		return ok
	}
	rate := c.maxStart
	for used+c.maxStep <= c.maxBudget && rate <= c.maxCap && ctx.Err() == nil {
		if !step(rate) {
			break
		}
		rate *= 1.5
	}
	if m.failAt > 0 && m.best > 0 && used+c.maxStep <= c.maxBudget && ctx.Err() == nil {
		step((m.best + m.failAt) / 2)
	}
	return m
}

// sustained judges one max-rate step.
func sustained(r *Result, sum Summary, d, maxP99 time.Duration) (bool, string) {
	switch {
	case r.Planned == 0:
		return false, "nothing sent"
	case float64(r.Errors) > 0.001*float64(r.Planned):
		return false, fmt.Sprintf("%d errors (%s)", r.Errors, topKind(r.Kinds))
	case r.SendLag > d/10:
		return false, fmt.Sprintf("driver %dms behind", r.SendLag.Milliseconds())
	case sum.P99 > maxP99:
		return false, fmt.Sprintf("p99 %.0fms", ms(sum.P99))
	}
	return true, ""
}

// topKind names the most frequent error kind.
func topKind(kinds map[string]int) string {
	best, n := "", 0
	for k, v := range kinds {
		if v > n || v == n && k < best {
			best, n = k, v
		}
	}
	return best
}

// profile records one extra, unmeasured round of sc per proxy with perf, and
// writes perf's report of the top symbols next to the data (files named
// <target>.<A|B>.*).
func (b *bench) profile(ctx context.Context, sc scenario) {
	dir := b.cfg.perfDir
	if _, err := exec.LookPath("perf"); err != nil {
		b.log.Print("-perf: perf not found; skipping the profiles")
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.log.Printf("-perf: %v", err)
		return
	}
	for _, s := range b.subjects {
		if !s.isProxy() {
			continue
		}
		name := s.name + "." + sc.title[:1]
		data := filepath.Join(dir, name+".perf.data")
		args := []string{"record", "-F", "999", "-g", "-p", strconv.Itoa(s.proc.pid()), "-o", data}
		if b.cfg.pin {
			args = append([]string{"-c", b.cfg.driverCPU, "perf"}, args...)
		}
		bin := "perf"
		if b.cfg.pin {
			bin = "taskset"
		}
		rec := exec.Command(bin, args...)
		logf, _ := os.Create(filepath.Join(dir, name+".perf.log"))
		rec.Stdout, rec.Stderr = logf, logf
		if err := rec.Start(); err != nil {
			b.log.Printf("-perf: %v", err)
			logf.Close()
			continue
		}
		time.Sleep(300 * time.Millisecond)
		b.run(ctx, s, sc.stream, sc.rate, b.cfg.roundDur)
		_ = rec.Process.Signal(syscall.SIGINT)
		_ = rec.Wait()
		logf.Close()
		// Self time by symbol, then inclusive time (callees included) of the
		// process's own functions, which is what tells where the time goes in a
		// Go server.
		var out []byte
		for _, args := range [][]string{
			{"--no-children", "--percent-limit", "0.7", "--sort", "dso,symbol"},
			{"--children", "--percent-limit", "1.5", "--sort", "symbol"},
		} {
			top, err := exec.Command("perf", append([]string{"report", "-i", data, "--stdio", "-g", "none"}, args...)...).Output()
			if err != nil {
				b.log.Printf("-perf report %s: %v", s.name, err)
				break
			}
			out = append(out, top...)
		}
		path := filepath.Join(dir, name+".top.txt")
		_ = os.WriteFile(path, out, 0o644)
		b.log.Printf("-perf: wrote %s", path)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
