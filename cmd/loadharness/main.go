// Command loadharness measures what the gateway adds to a request: the latency
// it adds over calling the upstream directly, the CPU it spends per request, its
// memory and its maximum sustained rate, next to a bare httputil.ReverseProxy (the
// floor), all on loopback against the fake provider at a fixed latency.
//
//	loadharness [flags]              orchestrate one whole run (see -h)
//	loadharness fake [flags]         serve the fake provider (a role of the run)
//	loadharness bare [flags]         serve a bare httputil.ReverseProxy (a role)
//	loadharness drive [flags]        drive one URL and print a line per second
//	loadharness stalls [-d 3s]       measure the gaps a CPU loses to others (pin it with taskset)
//	loadharness sched TRACE          what held the P while goroutines waited (an execution trace)
//
// The orchestrator builds ./cmd/gateway, starts the fake provider, the bare
// proxy and the gateway in embedded and production mode as child processes,
// pins the proxies to CPU 0 and itself (the load driver) and the fake provider
// to CPU 1 with taskset, configures the gateways through the admin API and then
// drives the targets in alternating rounds with a constant-rate open-loop
// driver. It prints a Markdown report; -out also writes it into a file.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadharness:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 {
		switch args[0] {
		case "fake":
			return runFake(ctx, args[1:])
		case "bare":
			return runBare(ctx, args[1:])
		case "drive":
			return runDrive(ctx, args[1:])
		case "stalls":
			return runStalls(ctx, args[1:])
		case "sched":
			return runSched(args[1:], stdout)
		}
	}
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	return orchestrate(ctx, cfg, stdout, stderr)
}

// config is the orchestrator's configuration, from its flags.
type config struct {
	repo       string // module root, where ./cmd/gateway is built
	gatewayBin string // prebuilt gateway binary (skips the build)
	out        string
	pin        bool
	proxyCPU   string
	driverCPU  string

	rounds    int
	roundDur  time.Duration
	warmup    time.Duration
	rate      float64 // scenario A, non-streaming
	streamRt  float64 // scenario B, streams per second
	timeout   time.Duration
	maxInfl   int
	maxStart  float64
	maxStep   time.Duration
	maxBudget time.Duration
	maxCap    float64
	maxP99    time.Duration
	skipMax   bool
	scenarios string

	latency     time.Duration // fake: wait before a non-streamed reply
	streamFirst time.Duration // fake: wait before the first streamed chunk
	streamToken time.Duration // fake: wait between streamed words
	tokens      int           // fake: words per reply

	pgAdmin     string // "" skips production mode
	pgDB        string
	redisURL    string
	perfDir     string
	pinServices bool
	keepTemp    bool
	quick       bool
	logLevel    string
	skipEmbed   bool
	budgets     bool          // a +budget target per gateway (issue 4)
	satWorkers  int           // closed-loop callers of the budget throughput comparison (0 skips it)
	gatewayEnv  []string      // extra KEY=VALUE entries of the gateways' environment (-gateway-env)
	waitQuiet   time.Duration // wait up to this long for a quiet machine before the scenarios
	quietBelow  float64       // the stall meter's share of lost time that counts as quiet
}

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("loadharness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: loadharness [flags]   (roles: loadharness fake|bare|drive|stalls -h)")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.repo, "repo", ".", "module root holding ./cmd/gateway")
	fs.StringVar(&c.gatewayBin, "gateway-bin", "", "use this gateway binary instead of building ./cmd/gateway")
	fs.StringVar(&c.out, "out", "", "also write the report to this file (between the loadharness markers if it has them)")
	fs.BoolVar(&c.pin, "pin", true, "pin the proxies and the driver to separate CPUs with taskset")
	fs.StringVar(&c.proxyCPU, "proxy-cpu", "0", "CPU list of the proxies (bare, gateways)")
	fs.StringVar(&c.driverCPU, "driver-cpu", "1", "CPU list of the driver and the fake provider")
	fs.BoolVar(&c.pinServices, "pin-services", true, "with -pin: also pin the bench database's PostgreSQL backends and the Redis server to -driver-cpu "+
		"(they stand for other hosts; unpinned they preempt the gateway on its core)")
	fs.IntVar(&c.rounds, "rounds", 5, "measured rounds per scenario; each round visits every target once")
	fs.DurationVar(&c.roundDur, "round", 3*time.Second, "length of one target's turn in a round")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured warm-up per target before each scenario")
	fs.Float64Var(&c.rate, "rate", 1000, "scenario A: non-streaming requests per second")
	fs.Float64Var(&c.streamRt, "stream-rate", 500, "scenario B: streams per second")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "client timeout of one request")
	fs.IntVar(&c.maxInfl, "max-inflight", 5000, "requests in flight beyond which the driver counts an error instead of sending")
	fs.Float64Var(&c.maxStart, "max-start", 1000, "max-rate search: first rate (req/s, non-streaming)")
	fs.DurationVar(&c.maxStep, "max-step", 2*time.Second, "max-rate search: length of one step")
	fs.DurationVar(&c.maxBudget, "max-budget", 20*time.Second, "max-rate search: time bound per target")
	fs.Float64Var(&c.maxCap, "max-cap", 20000, "max-rate search: highest rate tried")
	fs.DurationVar(&c.maxP99, "max-p99", 100*time.Millisecond, "max-rate search: a step whose p99 exceeds this fails")
	fs.BoolVar(&c.skipMax, "skip-max", false, "skip the max-rate search")
	fs.StringVar(&c.scenarios, "scenarios", "A,B", "scenarios to run: A (non-streaming), B (streaming), or both")
	fs.DurationVar(&c.latency, "latency", 20*time.Millisecond, "fake provider: latency of a non-streamed reply")
	fs.DurationVar(&c.streamFirst, "stream-first", 2*time.Millisecond, "fake provider: wait before a stream's first chunk")
	fs.DurationVar(&c.streamToken, "stream-token", 2*time.Millisecond, "fake provider: wait between streamed words")
	fs.IntVar(&c.tokens, "tokens", 16, "fake provider: words per reply (one streamed chunk each)")
	fs.StringVar(&c.pgAdmin, "pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL URL to administer the bench database from (\"\" skips production mode)")
	fs.StringVar(&c.pgDB, "pg-db", "gwbench", "bench database, dropped and recreated per run")
	fs.StringVar(&c.redisURL, "redis", "redis://127.0.0.1:6379/5", "Redis URL of production mode")
	fs.StringVar(&c.perfDir, "perf", "", "after scenario A, record one extra unmeasured round per proxy with `perf record` into this directory")
	fs.BoolVar(&c.keepTemp, "keep", false, "keep the temporary directory (binaries, logs, SQLite data)")
	fs.DurationVar(&c.waitQuiet, "wait-quiet", 0, "with -pin: before the scenarios, wait up to this long for the stall meter to read under -quiet-below on both CPUs "+
		"(checked every 30 s, every process of the run idle); the run goes on either way and the report says which")
	fs.Float64Var(&c.quietBelow, "quiet-below", 1, "-wait-quiet: the share of a CPU's time lost to others, in percent, that counts as quiet")
	fs.BoolVar(&c.quick, "quick", false, "short run (about a minute): 2 rounds of 1 s, 0.5 s warm-up, 1 s max-rate steps within 4 s")
	fs.StringVar(&c.logLevel, "gateway-log-level", "info", "GATEWAY_LOG_LEVEL of the gateways (info: one access-log line per request, as in production)")
	fs.BoolVar(&c.skipEmbed, "skip-embedded", false, "skip the embedded-mode gateway")
	fs.BoolVar(&c.budgets, "budgets", true, "also measure each gateway with budgets on: a second key on the same process, "+
		"of a user with a monthly budget, as the target <gateway>+budget (-budgets=false leaves it out)")
	fs.IntVar(&c.satWorkers, "sat-workers", 256, "budget throughput: closed-loop callers per turn, -rounds turns of -round per side (0 skips it)")
	fs.Func("gateway-env", "extra `KEY=VALUE` in the gateways' environment (repeatable; e.g. GOGC=200). "+
		"Without it nothing of the harness's own environment that tunes a gateway reaches them", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		c.gatewayEnv = append(c.gatewayEnv, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]func(){
			"rounds":     func() { c.rounds = 2 },
			"round":      func() { c.roundDur = time.Second },
			"warmup":     func() { c.warmup = 500 * time.Millisecond },
			"max-step":   func() { c.maxStep = time.Second },
			"max-budget": func() { c.maxBudget = 4 * time.Second },
		}
		for name, apply := range quick {
			if !set[name] {
				apply()
			}
		}
	}
	switch {
	case c.rounds < 1 || c.rounds > 20:
		return nil, fmt.Errorf("-rounds must be 1..20")
	case c.roundDur < 100*time.Millisecond || c.roundDur > time.Minute:
		return nil, fmt.Errorf("-round must be 100ms..1m")
	case c.rate <= 0 || c.rate > 50000 || c.streamRt <= 0 || c.streamRt > 50000:
		return nil, fmt.Errorf("-rate and -stream-rate must be in (0, 50000]")
	case c.maxBudget > 2*time.Minute || c.maxStep <= 0 || c.maxCap > 100000:
		return nil, fmt.Errorf("-max-budget at most 2m, -max-step positive, -max-cap at most 100000")
	case c.satWorkers < 0 || c.satWorkers > 4096:
		return nil, fmt.Errorf("-sat-workers must be 0..4096")
	case c.tokens < 1 || c.tokens > 10000:
		return nil, fmt.Errorf("-tokens must be 1..10000")
	}
	for sc := range strings.SplitSeq(c.scenarios, ",") {
		if sc != "A" && sc != "B" {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (want A, B or A,B)", sc)
		}
	}
	return c, nil
}
