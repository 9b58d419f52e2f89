package upstream

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// spec describes one endpoint's configuration and runtime state for a
// selection test.
type spec struct {
	id             int64
	prio, weight   int
	rpmLim, tpmLim int64
	inflight       int64
	ttft, perTok   time.Duration // latency sample; 0: none
	age            time.Duration // age of the latency sample
	rpm, tpm       int64         // usage in the current window
	cooling        time.Duration // cooling down for this long
	probing        bool          // half-open with the probe in flight
	halfOpen       bool          // half-open, probe slot free
	draining       bool
}

// selNow is the clock of the selection tests: 45s before the end of a minute.
func selNow() time.Time { return time.Date(2026, 3, 1, 12, 0, 15, 0, time.UTC) }

func build(specs []spec) *Pool {
	p := &Pool{}
	for _, s := range specs {
		e := limitedEP(s.id, s.rpmLim, s.tpmLim)
		e.Config.Priority, e.Config.Weight = s.prio, s.weight
		e.state.inflight.Store(s.inflight)
		if s.ttft > 0 || s.perTok > 0 {
			e.state.latency.Observe(selNow().Add(-s.age), s.ttft, s.perTok)
		}
		if s.rpm > 0 || s.tpm > 0 {
			e.state.usage.set(minute(selNow()), s.rpm, s.tpm)
		}
		h := &e.state.health
		switch {
		case s.cooling > 0:
			h.Failure(selNow(), false, s.cooling, BreakerPolicy{})
		case s.probing || s.halfOpen:
			h.Failure(selNow().Add(-time.Hour), false, time.Second, BreakerPolicy{})
			if s.probing {
				h.Allow(selNow())
			}
		}
		h.SetDraining(s.draining)
		p.Endpoints = append(p.Endpoints, e)
	}
	return p
}

func byID(p *Pool, ids ...int64) []*Endpoint {
	var out []*Endpoint
	for _, id := range ids {
		for _, e := range p.Endpoints {
			if e.ID() == id {
				out = append(out, e)
			}
		}
	}
	return out
}

// keepFirst makes tie-breaks keep the first candidate; takeLast the last.
func keepFirst(n int) int { return n - 1 }
func takeLast(int) int    { return 0 }

type selCase struct {
	name    string
	specs   []spec
	tried   []int64
	req     Request // Now is set to selNow()
	rnd     func(int) int
	want    int64 // endpoint id; 0 when an error is expected
	wantErr error // ErrRateLimited or ErrNoEndpoint
	wantRA  time.Duration
}

func runSelCases(t *testing.T, mk func(rnd func(int) int) RequestSelector, cases []selCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := build(tc.specs)
			req := tc.req
			req.Now = selNow()
			rnd := tc.rnd
			if rnd == nil {
				rnd = keepFirst
			}
			got, err := mk(rnd).Choose(p, byID(p, tc.tried...), req)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || got != nil || RetryAfter(err) != tc.wantRA {
					t.Fatalf("got %v, %v (retry-after %v); want %v with retry-after %v", got, err, RetryAfter(err), tc.wantErr, tc.wantRA)
				}
				return
			}
			if err != nil || got == nil || got.ID() != tc.want {
				t.Fatalf("got %v, %v; want endpoint %d", got, err, tc.want)
			}
		})
	}
}

// allSelectors builds every routing strategy with a fixed tie-break.
func allSelectors() map[string]func(rnd func(int) int) RequestSelector {
	out := map[string]func(func(int) int) RequestSelector{}
	for _, name := range []string{RoutingWeighted, RoutingLeastInflight, RoutingLatency, RoutingUsage, RoutingUsageLatency} {
		out[name] = func(rnd func(int) int) RequestSelector {
			s, err := SelectorFor(name, SelectorOptions{Rand: rnd})
			if err != nil {
				panic(err)
			}
			return s
		}
	}
	return out
}

// TestSelectorsAvailability: the rules every selector shares — priority
// groups, and what makes an endpoint unavailable — and the two errors.
func TestSelectorsAvailability(t *testing.T) {
	s := time.Second
	ra := untilNextWindow(selNow()) // 45s
	cases := []selCase{
		{name: "single endpoint", specs: []spec{{id: 1, prio: 1, weight: 1}}, want: 1},
		{name: "higher priority wins even when busier and slower",
			specs: []spec{{id: 1, prio: 1, weight: 1, inflight: 50, ttft: 5 * s, rpmLim: 100, rpm: 80}, {id: 2, prio: 2, weight: 1}}, want: 1},
		{name: "priority holds in a pool not sorted by it",
			specs: []spec{{id: 1, prio: 2, weight: 1}, {id: 2, prio: 1, weight: 1, inflight: 9, ttft: time.Second}, {id: 3, prio: 3, weight: 1}}, want: 2},
		{name: "tried endpoints are skipped", specs: []spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 1, weight: 1}}, tried: []int64{1}, want: 2},
		{name: "falls to the lower priority when the group is tried",
			specs: []spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 1, weight: 1}, {id: 3, prio: 2, weight: 1}}, tried: []int64{1, 2}, want: 3},
		{name: "draining endpoints are skipped", specs: []spec{{id: 1, prio: 1, weight: 1, draining: true}, {id: 2, prio: 2, weight: 1}}, want: 2},
		{name: "cooling endpoints are skipped", specs: []spec{{id: 1, prio: 1, weight: 1, cooling: 5 * s}, {id: 2, prio: 2, weight: 1}}, want: 2},
		{name: "a half-open endpoint is available for its probe",
			specs: []spec{{id: 1, prio: 1, weight: 1, halfOpen: true}, {id: 2, prio: 2, weight: 1}}, want: 1},
		{name: "a half-open endpoint whose probe is in flight is not",
			specs: []spec{{id: 1, prio: 1, weight: 1, probing: true}, {id: 2, prio: 2, weight: 1}}, want: 2},
		{name: "endpoints at their RPM limit are skipped",
			specs: []spec{{id: 1, prio: 1, weight: 1, rpmLim: 10, rpm: 10}, {id: 2, prio: 1, weight: 1, rpmLim: 10, rpm: 9}}, want: 2},
		{name: "endpoints the request would push over TPM are skipped",
			specs: []spec{{id: 1, prio: 1, weight: 1, tpmLim: 1000, tpm: 900}, {id: 2, prio: 2, weight: 1}}, req: Request{Tokens: 200}, want: 2},
		{name: "a group all at its limits falls to the next",
			specs: []spec{{id: 1, prio: 1, weight: 1, rpmLim: 1, rpm: 1}, {id: 2, prio: 1, weight: 1, tpmLim: 5, tpm: 5}, {id: 3, prio: 3, weight: 1}}, want: 3},
		{name: "all at their limits: rate limited until the window ends",
			specs: []spec{{id: 1, prio: 1, weight: 1, rpmLim: 1, rpm: 1}, {id: 2, prio: 2, weight: 1, rpmLim: 3, rpm: 3}}, wantErr: ErrRateLimited, wantRA: ra},
		{name: "limited and cooling: rate limited",
			specs: []spec{{id: 1, prio: 1, weight: 1, rpmLim: 1, rpm: 1}, {id: 2, prio: 1, weight: 1, cooling: 5 * s}}, wantErr: ErrRateLimited, wantRA: ra},
		{name: "all cooling: unavailable until the first cooldown ends",
			specs:   []spec{{id: 1, prio: 1, weight: 1, cooling: 20 * s}, {id: 2, prio: 2, weight: 1, cooling: 7 * s}, {id: 3, prio: 2, weight: 1, draining: true}},
			wantErr: ErrNoEndpoint, wantRA: 7 * s},
		{name: "a limited endpoint already tried does not make it a 429",
			specs: []spec{{id: 1, prio: 1, weight: 1, rpmLim: 1, rpm: 1}, {id: 2, prio: 1, weight: 1}}, tried: []int64{1, 2}, wantErr: ErrNoEndpoint},
		{name: "everything tried", specs: []spec{{id: 1, prio: 1, weight: 1}}, tried: []int64{1}, wantErr: ErrNoEndpoint},
		{name: "empty pool", wantErr: ErrNoEndpoint},
	}
	// More endpoints than the stack buffer.
	var many []spec
	for i := range 40 {
		many = append(many, spec{id: int64(i + 1), prio: 1 + i/20, weight: 1, draining: i < 39})
	}
	cases = append(cases, selCase{name: "40 endpoints, only the last available", specs: many, want: 40})
	for name, mk := range allSelectors() {
		t.Run(name, func(t *testing.T) { runSelCases(t, mk, cases) })
	}
}

func TestWeightedChoose(t *testing.T) {
	mk := func(rnd func(int) int) RequestSelector { return Weighted{Rand: rnd} }
	three := []spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 1, weight: 3}, {id: 3, prio: 1, weight: 0}}
	runSelCases(t, mk, []selCase{
		{name: "draw 0 is the first", specs: three, rnd: func(int) int { return 0 }, want: 1},
		{name: "draw 1 is the second", specs: three, rnd: func(int) int { return 1 }, want: 2},
		{name: "zero weight is never drawn", specs: three, rnd: func(n int) int { return n - 1 }, want: 2},
		{name: "all zero weights: uniform", specs: []spec{{id: 1, prio: 1}, {id: 2, prio: 1}}, rnd: func(n int) int { return n - 1 }, want: 2},
		{name: "unavailable endpoints take no share",
			specs: []spec{{id: 1, prio: 1, weight: 5, cooling: time.Second}, {id: 2, prio: 1, weight: 1}, {id: 3, prio: 1, weight: 1}},
			rnd:   func(n int) int { return n - 1 }, want: 3},
	})
}

func TestLeastInflightChoose(t *testing.T) {
	mk := func(rnd func(int) int) RequestSelector { return LeastInflight{Rand: rnd} }
	runSelCases(t, mk, []selCase{
		{name: "fewest in flight", specs: []spec{{id: 1, prio: 1, weight: 9, inflight: 3}, {id: 2, prio: 1, weight: 1, inflight: 1}, {id: 3, prio: 1, weight: 1, inflight: 2}}, want: 2},
		{name: "tie kept by the first draw", specs: []spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 1, weight: 1}}, want: 1},
		{name: "tie taken by the last draw", specs: []spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 1, weight: 1}}, rnd: takeLast, want: 2},
		{name: "in-flight counts only within the group",
			specs: []spec{{id: 1, prio: 1, weight: 1, inflight: 9}, {id: 2, prio: 2, weight: 1}}, want: 1},
	})
}

func TestLowestLatencyChoose(t *testing.T) {
	ms := time.Millisecond
	mk := func(rnd func(int) int) RequestSelector { return LowestLatency{Rand: rnd} }
	// a starts fast, b streams fast.
	ab := []spec{{id: 1, prio: 1, weight: 1, ttft: 100 * ms, perTok: 50 * ms}, {id: 2, prio: 1, weight: 1, ttft: time.Second, perTok: 10 * ms}}
	runSelCases(t, mk, []selCase{
		{name: "lowest ttft for short outputs", specs: ab, req: Request{OutputTokens: 10}, want: 1},
		{name: "lowest per-token time for long outputs", specs: ab, req: Request{OutputTokens: 1000}, want: 2},
		{name: "default output length (256): per-token dominates", specs: ab, want: 2},
		{name: "an unmeasured endpoint is explored first",
			specs: []spec{{id: 1, prio: 1, weight: 1, ttft: ms}, {id: 2, prio: 1, weight: 1, inflight: 4}}, want: 2},
		{name: "a stale measurement is explored again",
			specs: []spec{{id: 1, prio: 1, weight: 1, ttft: ms}, {id: 2, prio: 1, weight: 1, ttft: time.Second, age: time.Hour}}, want: 2},
		{name: "among unmeasured, the fewest in flight",
			specs: []spec{{id: 1, prio: 1, weight: 1, inflight: 2}, {id: 2, prio: 1, weight: 1, inflight: 1}}, want: 2},
		{name: "equal latency: fewest in flight",
			specs: []spec{{id: 1, prio: 1, weight: 1, ttft: ms, inflight: 2}, {id: 2, prio: 1, weight: 1, ttft: ms, inflight: 1}}, want: 2},
	})
	// A negative StaleAfter trusts old measurements.
	p := build([]spec{{id: 1, prio: 1, weight: 1, ttft: ms}, {id: 2, prio: 1, weight: 1, ttft: time.Second, age: time.Hour}})
	if e, _ := (LowestLatency{StaleAfter: -1}).Choose(p, nil, Request{Now: selNow()}); e.ID() != 1 {
		t.Fatalf("never-stale picked %d", e.ID())
	}
}

func TestUsageBasedChoose(t *testing.T) {
	mk := func(rnd func(int) int) RequestSelector { return UsageBased{Rand: rnd} }
	runSelCases(t, mk, []selCase{
		{name: "most RPM headroom",
			specs: []spec{{id: 1, prio: 1, weight: 1, rpmLim: 10, rpm: 5}, {id: 2, prio: 1, weight: 1, rpmLim: 100, rpm: 20}}, want: 2},
		{name: "the tighter of RPM and TPM counts",
			specs: []spec{{id: 1, prio: 1, weight: 1, rpmLim: 100, rpm: 1, tpmLim: 1000, tpm: 900}, {id: 2, prio: 1, weight: 1, rpmLim: 10, rpm: 5}}, want: 2},
		{name: "unlimited is full headroom",
			specs: []spec{{id: 1, prio: 1, weight: 1, rpmLim: 1000, rpm: 1}, {id: 2, prio: 1, weight: 1}}, want: 2},
		{name: "an unused limited endpoint ties with an unlimited one: fewest in flight",
			specs: []spec{{id: 1, prio: 1, weight: 1, inflight: 1}, {id: 2, prio: 1, weight: 1, rpmLim: 10}}, want: 2},
		{name: "latency does not matter",
			specs: []spec{{id: 1, prio: 1, weight: 1, ttft: time.Millisecond, rpmLim: 10, rpm: 1}, {id: 2, prio: 1, weight: 1, ttft: time.Minute}}, want: 2},
	})
}

func TestUsageLatencyChoose(t *testing.T) {
	ms := time.Millisecond
	mk := func(rnd func(int) int) RequestSelector { return UsageLatency{Rand: rnd} }
	runSelCases(t, mk, []selCase{
		{name: "fastest when all have room",
			specs: []spec{{id: 1, prio: 1, weight: 1, ttft: 300 * ms, rpmLim: 10, rpm: 5}, {id: 2, prio: 1, weight: 1, ttft: 100 * ms, rpmLim: 10, rpm: 8}}, want: 2},
		{name: "the fastest is near its limit: the next fastest",
			specs: []spec{{id: 1, prio: 1, weight: 1, ttft: 300 * ms}, {id: 2, prio: 1, weight: 1, ttft: 100 * ms, rpmLim: 100, rpm: 95}, {id: 3, prio: 1, weight: 1, ttft: 200 * ms, tpmLim: 1000, tpm: 950}}, want: 1},
		{name: "all near their limits: the fastest of them",
			specs: []spec{{id: 1, prio: 1, weight: 1, ttft: 300 * ms, rpmLim: 100, rpm: 95}, {id: 2, prio: 1, weight: 1, ttft: 100 * ms, rpmLim: 100, rpm: 99}}, want: 2},
		{name: "unmeasured explored first among those with room",
			specs: []spec{{id: 1, prio: 1, weight: 1, ttft: ms}, {id: 2, prio: 1, weight: 1}, {id: 3, prio: 1, weight: 1, rpmLim: 10, rpm: 10}}, want: 2},
		{name: "tie: fewest in flight",
			specs: []spec{{id: 1, prio: 1, weight: 1, inflight: 3}, {id: 2, prio: 1, weight: 1, inflight: 0}}, want: 2},
	})
	// A custom threshold: 50% headroom required.
	p := build([]spec{{id: 1, prio: 1, weight: 1, ttft: 100 * ms, rpmLim: 10, rpm: 6}, {id: 2, prio: 1, weight: 1, ttft: 200 * ms}})
	if e, _ := (UsageLatency{NearLimit: 0.5}).Choose(p, nil, Request{Now: selNow()}); e.ID() != 2 {
		t.Fatalf("NearLimit 0.5 picked %d", e.ID())
	}
}

// TestTieBreakFollowsWeights: when least_inflight (or a latency tie) has to
// choose among equals, it does so in proportion to weight.
func TestTieBreakFollowsWeights(t *testing.T) {
	p := build([]spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 1, weight: 3}})
	r := rand.New(rand.NewPCG(3, 4))
	sel := LeastInflight{Rand: r.IntN}
	const n = 40000
	heavy := 0
	for range n {
		e, _ := sel.Choose(p, nil, Request{Now: selNow()})
		if e.ID() == 2 {
			heavy++
		}
	}
	if share := float64(heavy) / n; share < 0.74 || share > 0.76 {
		t.Fatalf("weight-3 endpoint got %.3f of the ties, want ≈0.75", share)
	}
}

func TestRoutingNames(t *testing.T) {
	cases := []struct {
		name  string
		valid bool
		want  string // type of the selector
	}{
		{"", true, "UsageLatency"},
		{RoutingUsageLatency, true, "UsageLatency"},
		{RoutingWeighted, true, "Weighted"},
		{RoutingLeastInflight, true, "LeastInflight"},
		{RoutingLatency, true, "LowestLatency"},
		{RoutingUsage, true, "UsageBased"},
		{"round_robin", false, ""},
		{"Weighted", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidRouting(tc.name)
			s, serr := SelectorFor(tc.name, SelectorOptions{})
			if (err == nil) != tc.valid || (serr == nil) != tc.valid {
				t.Fatalf("valid %v/%v, want %v", err, serr, tc.valid)
			}
			if !tc.valid {
				return
			}
			var got string
			switch s.(type) {
			case Weighted:
				got = "Weighted"
			case LeastInflight:
				got = "LeastInflight"
			case LowestLatency:
				got = "LowestLatency"
			case UsageBased:
				got = "UsageBased"
			case UsageLatency:
				got = "UsageLatency"
			}
			if got != tc.want {
				t.Fatalf("selector %T, want %s", s, tc.want)
			}
		})
	}
}

// TestSelectUsesClock: Select (the plain Selector interface) reads the
// selector's clock for health and limits.
func TestSelectUsesClock(t *testing.T) {
	p := build([]spec{{id: 1, prio: 1, weight: 1, cooling: 10 * time.Second}, {id: 2, prio: 2, weight: 1}})
	later := func() time.Time { return selNow().Add(11 * time.Second) }
	for name, s := range map[string]Selector{
		"weighted": Weighted{Now: later}, "least_inflight": LeastInflight{Now: later}, "latency": LowestLatency{Now: later},
		"usage": UsageBased{Now: later}, "usage_latency": UsageLatency{Now: later},
	} {
		if e, err := s.Select(p, nil); err != nil || e.ID() != 1 {
			t.Fatalf("%s: got %v %v, want the half-open endpoint 1", name, e, err)
		}
	}
}
