package main

// Throughput with budgets on vs off (issue 4): closed-loop saturation. The
// max-rate search steps its rate ×1.5 and judges a step by its p99, so two
// neighbouring steps are 50 % apart: too coarse to tell a 10 % difference.
// Here a fixed number of callers each send their next request as soon as the
// previous one ends, so the gateway runs flat out and the completed requests
// per second are its throughput. Each budget pair (the same process called
// with the key without and with a budget) is measured in alternating turns,
// the order flipped every round, so drifts hit both alike.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Saturate runs workers closed-loop callers of t for dur and returns the
// requests completed successfully, the failed ones and the time taken (up to
// the last completion).
func (d *Driver) Saturate(ctx context.Context, t Target, workers int, dur time.Duration) (ok, failed int, elapsed time.Duration) {
	var nOK, nErr atomic.Int64
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if _, kind := d.do(t, 0); kind == "" {
					nOK.Add(1)
				} else {
					nErr.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(nOK.Load()), int(nErr.Load()), time.Since(start)
}

// satTurn is one subject's turn in a saturation round.
type satTurn struct {
	ok, failed int
	elapsed    time.Duration
	cpu        time.Duration // the gateway process's CPU time in the turn
	redisCalls int64         // EVAL/EVALSHA calls in the turn (server-wide)
	redisUsec  int64
	redisOK    bool
}

func (t satTurn) rate() float64 {
	if t.elapsed <= 0 {
		return 0
	}
	return float64(t.ok) / t.elapsed.Seconds()
}

// satResult is the saturation measurement of one budget pair.
type satResult struct {
	off, on string // subject names
	rounds  [][2]satTurn
}

// sum adds up the turns of one side (0 off, 1 on).
func (r *satResult) sum(side int) satTurn {
	var s satTurn
	s.redisOK = true
	for _, rd := range r.rounds {
		t := rd[side]
		s.ok += t.ok
		s.failed += t.failed
		s.elapsed += t.elapsed
		s.cpu += t.cpu
		s.redisCalls += t.redisCalls
		s.redisUsec += t.redisUsec
		s.redisOK = s.redisOK && t.redisOK
	}
	return s
}

// saturate measures every budget pair closed-loop.
func (b *bench) saturate(ctx context.Context) []*satResult {
	c := b.cfg
	var out []*satResult
	for _, on := range b.subjects {
		if !on.budget {
			continue
		}
		off := b.subject(on.pair)
		if off == nil {
			continue
		}
		b.log.Printf("throughput (closed loop, %d callers): %s vs %s", c.satWorkers, off.name, on.name)
		pair := [2]*subject{off, on}
		for _, s := range pair { // warm-up: connections, caches, counters
			b.drv.Saturate(ctx, s.target(false), c.satWorkers, c.warmup)
		}
		res := &satResult{off: off.name, on: on.name}
		for round := range c.rounds {
			var rd [2]satTurn
			order := []int{0, 1}
			if round%2 == 1 {
				order = []int{1, 0}
			}
			for _, side := range order {
				if ctx.Err() != nil {
					return out
				}
				rd[side] = b.satTurn(ctx, pair[side])
			}
			res.rounds = append(res.rounds, rd)
		}
		out = append(out, res)
	}
	return out
}

func (b *bench) satTurn(ctx context.Context, s *subject) satTurn {
	var t satTurn
	cpu0, errCPU := cpuTime(s.proc.pid())
	var calls0, usec0 int64
	var errRedis error = fmt.Errorf("no Redis")
	if b.redis != nil && s.redis {
		calls0, usec0, errRedis = redisScripts(ctx, b.redis)
	}
	t.ok, t.failed, t.elapsed = b.drv.Saturate(ctx, s.target(false), b.cfg.satWorkers, b.cfg.roundDur)
	s.sent += t.ok + t.failed
	if errRedis == nil {
		time.Sleep(50 * time.Millisecond) // the last settles
		if calls1, usec1, err := redisScripts(ctx, b.redis); err == nil {
			t.redisCalls, t.redisUsec, t.redisOK = calls1-calls0, usec1-usec0, true
		}
	}
	if cpu1, err := cpuTime(s.proc.pid()); err == nil && errCPU == nil {
		t.cpu = cpu1 - cpu0
	}
	return t
}

// satSection reports the closed-loop throughput of the budget pairs.
func (r *report) satSection(b *strings.Builder) {
	if len(r.sat) == 0 {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("Throughput, closed loop: %d callers each send the next non-streaming request as soon as the previous one ends, "+
		"so the gateway (one core) runs flat out; %d rounds of %s per side, the side order flipped every round. "+
		"Redis (pinned to the driver's core with -pin-services, else unpinned) and the load driver share the machine's other capacity, "+
		"so Redis's own work is part of what budgets cost here (and its µs/req are wall time, preemptions included), "+
		"and when the driver's core saturates first the gateway is not the bottleneck. "+
		"\"Capacity from CPU\" is the ratio of the gateway process's CPU per request off ÷ on in the same turns: "+
		"the throughput ratio of a replica whose own core is the bottleneck (Redis on its own host).\n\n", r.cfg.satWorkers, r.cfg.rounds, r.cfg.roundDur)
	p("| gateway | req/s off | req/s on | on / off (target ≥ 0.90) | on / off by round | errors off / on | CPU µs/req off → on | " +
		"capacity on / off from CPU | Redis calls/req on | Redis µs/req on |\n")
	p("|---|--:|--:|--:|---|--:|--:|--:|--:|--:|\n")
	for _, s := range r.sat {
		off, on := s.sum(0), s.sum(1)
		ratio := "—"
		if off.rate() > 0 {
			v := on.rate() / off.rate()
			mark := "✅"
			if v < 0.9 {
				mark = "❌"
			}
			ratio = fmt.Sprintf("%.3f %s", v, mark)
		}
		var byRound []string
		for _, rd := range s.rounds {
			if rd[0].rate() > 0 {
				byRound = append(byRound, fmt.Sprintf("%.3f", rd[1].rate()/rd[0].rate()))
			}
		}
		cpu := func(t satTurn) float64 {
			if t.ok+t.failed == 0 {
				return 0
			}
			return float64(t.cpu.Microseconds()) / float64(t.ok+t.failed)
		}
		calls, rus := "—", "—"
		if on.redisOK && on.ok > 0 {
			calls = fmt.Sprintf("%.3f", float64(on.redisCalls)/float64(on.ok+on.failed))
			rus = fmt.Sprintf("%.1f", float64(on.redisUsec)/float64(on.ok+on.failed))
		}
		capacity := "—"
		if cpu(on) > 0 {
			capacity = fmt.Sprintf("%.3f", cpu(off)/cpu(on))
		}
		p("| %s | %.0f | %.0f | %s | %s | %d / %d | %.0f → %.0f | %s | %s | %s |\n", s.off, off.rate(), on.rate(), ratio,
			strings.Join(byRound, ", "), off.failed, on.failed, cpu(off), cpu(on), capacity, calls, rus)
	}
	p("\n")
}
