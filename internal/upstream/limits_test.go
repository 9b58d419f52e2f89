package upstream

import (
	"context"
	"testing"
	"time"
)

// limOp is one call on a limiter at base+at: Admit tokens (or, when adjust is
// set, Adjust by it at the time of the op), then the Usage it must show.
type limOp struct {
	at       time.Duration
	tokens   int64
	adjust   int64
	adjPrev  bool // the adjustment is for the admission a minute before at
	admitted bool
	ra       time.Duration // expected retry-after when refused
	rpm, tpm int64
}

type limCase struct {
	name     string
	rpm, tpm int64
	ops      []limOp
}

// limiterCases is the behaviour every Limiter shares (run on LocalLimiter
// here and on RedisLimiter in limits_redis_test.go).
func limiterCases() []limCase {
	s := time.Second
	return []limCase{
		{"rpm: the limit-th request passes, the next waits for the window", 2, 0, []limOp{
			{at: 0, tokens: 10, admitted: true, rpm: 1, tpm: 10},
			{at: 10 * s, tokens: 10, admitted: true, rpm: 2, tpm: 20},
			{at: 45 * s, tokens: 10, admitted: false, ra: 15 * s, rpm: 2, tpm: 20},
			{at: 60 * s, tokens: 10, admitted: true, rpm: 1, tpm: 10},
		}},
		{"tpm: up to exactly the limit", 0, 100, []limOp{
			{at: 0, tokens: 60, admitted: true, rpm: 1, tpm: 60},
			{at: s, tokens: 40, admitted: true, rpm: 2, tpm: 100},
			{at: 2 * s, tokens: 1, admitted: false, ra: 58 * s, rpm: 2, tpm: 100},
			{at: 2 * s, tokens: 0, admitted: false, ra: 58 * s, rpm: 2, tpm: 100}, // a request costs at least a token
		}},
		{"tpm: a request larger than the limit fits an empty window only", 0, 100, []limOp{
			{at: 0, tokens: 150, admitted: true, rpm: 1, tpm: 150},
			{at: s, tokens: 1, admitted: false, ra: 59 * s, rpm: 1, tpm: 150},
			{at: 61 * s, tokens: 150, admitted: true, rpm: 1, tpm: 150},
		}},
		{"both limits: whichever is reached first refuses", 3, 100, []limOp{
			{at: 0, tokens: 50, admitted: true, rpm: 1, tpm: 50},
			{at: 0, tokens: 60, admitted: false, ra: 60 * s, rpm: 1, tpm: 50},
			{at: 0, tokens: 10, admitted: true, rpm: 2, tpm: 60},
			{at: 0, tokens: 10, admitted: true, rpm: 3, tpm: 70},
			{at: 0, tokens: 1, admitted: false, ra: 60 * s, rpm: 3, tpm: 70},
		}},
		{"adjust gives back over-estimated tokens", 0, 100, []limOp{
			{at: 0, tokens: 80, admitted: true, rpm: 1, tpm: 80},
			{at: 0, tokens: 70, admitted: false, ra: 60 * s, rpm: 1, tpm: 80},
			{at: 0, adjust: -50, rpm: 1, tpm: 30},
			{at: 0, tokens: 70, admitted: true, rpm: 2, tpm: 100},
			{at: 0, adjust: 25, rpm: 2, tpm: 125},
		}},
		{"adjust never goes below zero", 0, 100, []limOp{
			{at: 0, tokens: 10, admitted: true, rpm: 1, tpm: 10},
			{at: 0, adjust: -500, rpm: 1, tpm: 0},
		}},
		{"adjust of a past window leaves the current one alone", 0, 100, []limOp{
			{at: 0, tokens: 90, admitted: true, rpm: 1, tpm: 90},
			{at: 60 * s, tokens: 90, admitted: true, rpm: 1, tpm: 90},
			{at: 60 * s, adjust: -90, adjPrev: true, rpm: 1, tpm: 90},
			{at: 60 * s, tokens: 20, admitted: false, ra: 60 * s, rpm: 1, tpm: 90},
		}},
		{"unlimited endpoints are always admitted and counted", 0, 0, []limOp{
			{at: 0, tokens: 1e6, admitted: true, rpm: 1, tpm: 1e6},
			{at: 0, tokens: 1e6, admitted: true, rpm: 2, tpm: 2e6},
			{at: 0, adjust: -1e6, rpm: 2, tpm: 1e6},
		}},
	}
}

// runLimiterCase plays a case; the limiter and endpoint are fresh per case.
func runLimiterCase(t *testing.T, l Limiter, e *Endpoint, tc limCase) {
	t.Helper()
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, op := range tc.ops {
		now := base.Add(op.at)
		if op.adjust != 0 {
			at := now
			if op.adjPrev {
				at = now.Add(-time.Minute)
			}
			if err := l.Adjust(ctx, e, op.adjust, at); err != nil {
				t.Fatalf("op %d: adjust: %v", i, err)
			}
		} else {
			ok, ra, err := l.Admit(ctx, e, op.tokens, now)
			if err != nil {
				t.Fatalf("op %d: admit: %v", i, err)
			}
			if ok != op.admitted || (!ok && ra != op.ra) || (ok && ra != 0) {
				t.Fatalf("op %d: admitted %v retry-after %v, want %v %v", i, ok, ra, op.admitted, op.ra)
			}
		}
		rpm, tpm, err := l.Usage(ctx, e, now)
		if err != nil || rpm != op.rpm || tpm != op.tpm {
			t.Fatalf("op %d: usage %d/%d (%v), want %d/%d", i, rpm, tpm, err, op.rpm, op.tpm)
		}
	}
}

func limitedEP(id int64, rpm, tpm int64) *Endpoint {
	e := ep(id, 1, 1)
	e.Config.RPMLimit, e.Config.TPMLimit = rpm, tpm
	return e
}

func TestLocalLimiter(t *testing.T) {
	for _, tc := range limiterCases() {
		t.Run(tc.name, func(t *testing.T) {
			runLimiterCase(t, LocalLimiter{}, limitedEP(1, tc.rpm, tc.tpm), tc)
		})
	}
}

// TestUsageView: the per-replica view the selectors read (headroom, at-limit)
// follows the counts and resets with the window.
func TestUsageView(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	cases := []struct {
		name     string
		rpm, tpm int64 // limits
		useR     int64 // requests counted
		useT     int64 // tokens counted
		tokens   int64 // next request's estimate
		head     float64
		atLimit  bool
	}{
		{"unlimited", 0, 0, 100, 1e6, 10, 1, false},
		{"empty", 10, 1000, 0, 0, 10, 1, false},
		{"rpm is the tighter", 10, 1000, 8, 100, 10, 0.2, false},
		{"tpm is the tighter", 10, 1000, 1, 700, 10, 0.3, false},
		{"tpm would overflow with this request", 10, 1000, 1, 995, 10, 0.005, true},
		{"rpm reached", 10, 0, 10, 0, 0, 0, true},
		{"over the limit (fallback admission) is zero headroom", 0, 100, 1, 150, 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := limitedEP(1, tc.rpm, tc.tpm)
			e.state.usage.set(minute(now), tc.useR, tc.useT)
			u := &e.state.usage
			if h := u.headroom(e, now); h < tc.head-1e-9 || h > tc.head+1e-9 {
				t.Fatalf("headroom %v, want %v", h, tc.head)
			}
			if got := u.atLimit(e, tc.tokens, now); got != tc.atLimit {
				t.Fatalf("atLimit %v, want %v", got, tc.atLimit)
			}
			if u.headroom(e, now.Add(time.Minute)) != 1 || u.atLimit(e, tc.tokens, now.Add(time.Minute)) {
				t.Fatal("the next window still shows this one's usage")
			}
		})
	}
	// A stale report of an older window does not overwrite a newer one.
	e := limitedEP(1, 10, 0)
	e.state.usage.set(minute(now), 3, 0)
	e.state.usage.set(minute(now)-1, 9, 0)
	if r, _ := e.state.usage.current(now); r != 3 {
		t.Fatalf("older window overwrote the current one: %d", r)
	}
}

func TestUntilNextWindow(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		at   time.Duration
		want time.Duration
	}{
		{0, time.Minute},
		{59*time.Second + 999*time.Millisecond + 999999, time.Millisecond}, // never below 1ms
		{30 * time.Second, 30 * time.Second},
	}
	for _, tc := range cases {
		if got := untilNextWindow(base.Add(tc.at)); got != tc.want {
			t.Errorf("at +%v: %v, want %v", tc.at, got, tc.want)
		}
	}
}
