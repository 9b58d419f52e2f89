package upstream

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeLimiter refuses the endpoints listed with their retry-after, and
// records adjustments.
type fakeLimiter struct {
	mu      sync.Mutex
	refuse  map[int64]time.Duration
	err     error // returned with every decision (the decision still holds)
	admits  []int64
	adjusts map[int64]int64
}

func (f *fakeLimiter) Admit(_ context.Context, e *Endpoint, _ int64, _ time.Time) (bool, time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.admits = append(f.admits, e.ID())
	if ra, ok := f.refuse[e.ID()]; ok {
		return false, ra, f.err
	}
	return true, 0, f.err
}

func (f *fakeLimiter) Usage(context.Context, *Endpoint, time.Time) (int64, int64, error) {
	return 0, 0, nil
}

func (f *fakeLimiter) Adjust(_ context.Context, e *Endpoint, d int64, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.adjusts == nil {
		f.adjusts = map[int64]int64{}
	}
	f.adjusts[e.ID()] += d
	return nil
}

func TestRouterNext(t *testing.T) {
	s := time.Second
	cases := []struct {
		name    string
		routing string
		specs   []spec
		tried   []int64
		refuse  map[int64]time.Duration
		want    int64
		wantErr error
		wantRA  time.Duration
		admits  []int64 // limiter calls, in order
	}{
		{name: "admitted at the first choice", specs: []spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 2, weight: 1}},
			want: 1, admits: []int64{1}},
		{name: "skips an endpoint the limiter refuses", specs: []spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 1, weight: 1, inflight: 1}},
			refuse: map[int64]time.Duration{1: 30 * s}, want: 2, admits: []int64{1, 2}},
		{name: "falls to the lower priority when the group is refused",
			specs:  []spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 1, weight: 1}, {id: 3, prio: 2, weight: 1}},
			refuse: map[int64]time.Duration{1: 30 * s, 2: 30 * s}, want: 3, admits: []int64{1, 2, 3}},
		{name: "all refused: rate limited with the shortest retry-after",
			specs:  []spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 2, weight: 1}},
			refuse: map[int64]time.Duration{1: 30 * s, 2: 12 * s}, wantErr: ErrRateLimited, wantRA: 12 * s, admits: []int64{1, 2}},
		{name: "refused and known at limit: the shortest of both",
			specs:  []spec{{id: 1, prio: 1, weight: 1, rpmLim: 1, rpm: 1}, {id: 2, prio: 2, weight: 1}},
			refuse: map[int64]time.Duration{2: 50 * s}, wantErr: ErrRateLimited, wantRA: untilNextWindow(selNow()), admits: []int64{2}},
		{name: "refused and the rest cooling: rate limited",
			specs:  []spec{{id: 1, prio: 1, weight: 1, cooling: time.Minute}, {id: 2, prio: 2, weight: 1}},
			refuse: map[int64]time.Duration{2: 5 * s}, wantErr: ErrRateLimited, wantRA: 5 * s, admits: []int64{2}},
		{name: "all cooling: unavailable", specs: []spec{{id: 1, prio: 1, weight: 1, cooling: time.Minute}},
			wantErr: ErrNoEndpoint, wantRA: time.Minute},
		{name: "failover skips the endpoints tried", specs: []spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 1, weight: 1, inflight: 5}},
			tried: []int64{1}, want: 2, admits: []int64{2}},
		{name: "the model's routing decides: least_inflight", routing: RoutingLeastInflight,
			specs: []spec{{id: 1, prio: 1, weight: 1, inflight: 2}, {id: 2, prio: 1, weight: 1, ttft: time.Hour, inflight: 1}}, want: 2, admits: []int64{2}},
		{name: "the model's routing decides: latency", routing: RoutingLatency,
			specs: []spec{{id: 1, prio: 1, weight: 1, ttft: time.Second}, {id: 2, prio: 1, weight: 1, ttft: time.Millisecond, inflight: 9}}, want: 2, admits: []int64{2}},
		{name: "an unknown routing gets the default", routing: "bogus",
			specs: []spec{{id: 1, prio: 1, weight: 1, ttft: time.Second}, {id: 2, prio: 1, weight: 1, ttft: time.Millisecond}}, want: 2, admits: []int64{2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := build(tc.specs)
			p.Model.Routing = tc.routing
			lim := &fakeLimiter{refuse: tc.refuse}
			r := NewRouter(RouterOptions{Limiter: lim, Selection: SelectorOptions{Rand: keepFirst}})
			tried := append(make([]*Endpoint, 0, 8), byID(p, tc.tried...)...) // spare capacity must stay untouched
			e, release, err := r.Next(context.Background(), p, tried, Request{Now: selNow(), Tokens: 10})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || RetryAfter(err) != tc.wantRA || e != nil || release != nil {
					t.Fatalf("got %v, %v (retry-after %v); want %v, %v", e, err, RetryAfter(err), tc.wantErr, tc.wantRA)
				}
			} else {
				if err != nil || e.ID() != tc.want {
					t.Fatalf("got %v, %v; want %d", e, err, tc.want)
				}
				if e.Inflight() != tc.specs[indexOf(p, e)].inflight+1 {
					t.Fatal("the attempt is not counted in flight")
				}
				release(Outcome{})
			}
			if len(lim.admits) != len(tc.admits) {
				t.Fatalf("admissions %v, want %v", lim.admits, tc.admits)
			}
			for i := range tc.admits {
				if lim.admits[i] != tc.admits[i] {
					t.Fatalf("admissions %v, want %v", lim.admits, tc.admits)
				}
			}
			for _, x := range tried[len(tried):cap(tried)] {
				if x != nil {
					t.Fatal("Next wrote into the caller's tried slice")
				}
			}
		})
	}
}

func indexOf(p *Pool, e *Endpoint) int {
	for i, x := range p.Endpoints {
		if x == e {
			return i
		}
	}
	return -1
}

// TestRouterProbeRefusedByLimiter: a half-open endpoint whose probe the
// limiter refuses gives the probe slot back.
func TestRouterProbeRefusedByLimiter(t *testing.T) {
	p := build([]spec{{id: 1, prio: 1, weight: 1, halfOpen: true}, {id: 2, prio: 2, weight: 1}})
	lim := &fakeLimiter{refuse: map[int64]time.Duration{1: time.Second}}
	r := NewRouter(RouterOptions{Limiter: lim})
	e, rel, err := r.Next(context.Background(), p, nil, Request{Now: selNow()})
	if err != nil || e.ID() != 2 {
		t.Fatalf("got %v %v", e, err)
	}
	rel(Outcome{})
	if ok, probe := p.Endpoints[0].Health().Allow(selNow()); !ok || !probe {
		t.Fatal("the probe slot was not given back")
	}
}

// TestRouterLimiterError: a failing limiter store is reported, and its
// fallback decision is used.
func TestRouterLimiterError(t *testing.T) {
	p := build([]spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 1, weight: 1}})
	boom := errors.New("redis down")
	lim := &fakeLimiter{refuse: map[int64]time.Duration{1: time.Second}, err: boom}
	var reported []int64
	r := NewRouter(RouterOptions{Limiter: lim, Selection: SelectorOptions{Rand: keepFirst},
		OnLimiterError: func(e *Endpoint, err error) {
			if errors.Is(err, boom) {
				reported = append(reported, e.ID())
			}
		}})
	e, rel, err := r.Next(context.Background(), p, nil, Request{Now: selNow()})
	if err != nil || e.ID() != 2 || len(reported) != 2 {
		t.Fatalf("got %v %v, reported %v", e, err, reported)
	}
	rel(Outcome{})
}

// TestRouterRelease: what each outcome records into the endpoint's health,
// latency, counters and token count.
func TestRouterRelease(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name        string
		prior       int // failures recorded before
		o           Outcome
		state       string
		consecutive int64
		ttft        time.Duration // expected EWMA after (0: none)
		failed      int64         // lifetime failure counter
		adjust      int64         // token correction (estimate is 100)
	}{
		{"success records latency and the actual tokens", 2, Outcome{Status: 200, TTFT: 300 * ms, PerToken: 20 * ms, Tokens: 130},
			StateHealthy, 0, 300 * ms, 0, 30},
		{"success with unknown tokens leaves the estimate", 0, Outcome{Status: 200, TTFT: ms}, StateHealthy, 0, ms, 0, 0},
		{"5xx counts a failure and refunds the estimate", 0, Outcome{Err: ErrStatus, Status: 503}, StateHealthy, 1, 0, 1, -100},
		{"the third failure trips the breaker", 2, Outcome{Err: ErrTimeout}, StateCoolingDown, 3, 0, 1, -100},
		{"a connection error is a failure", 0, Outcome{Err: ErrConnect}, StateHealthy, 1, 0, 1, -100},
		{"429 with retry-after cools down at once", 0, Outcome{Err: ErrStatus, Status: 429, RetryAfter: 30 * time.Second},
			StateCoolingDown, 1, 0, 1, -100},
		{"a 400 is the request's fault: the endpoint is up", 2, Outcome{Err: ErrStatus, Status: 400}, StateHealthy, 0, 0, 0, -100},
		{"client gone: nothing learnt, partial tokens kept", 2, Outcome{Err: ErrCanceled, Tokens: 40}, StateHealthy, 2, 0, 0, -60},
		{"a failure mid-stream with tokens counted", 0, Outcome{Err: ErrConnect, Tokens: 250}, StateHealthy, 1, 0, 1, 150},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := build([]spec{{id: 1, prio: 1, weight: 1}})
			e := p.Endpoints[0]
			for range tc.prior {
				e.Health().Failure(selNow(), false, 0, BreakerPolicy{})
			}
			lim := &fakeLimiter{}
			r := NewRouter(RouterOptions{Limiter: lim, Clock: selNow})
			got, rel, err := r.Next(context.Background(), p, nil, Request{Now: selNow(), Tokens: 100})
			if err != nil || got != e {
				t.Fatal(got, err)
			}
			rel(tc.o)
			rel(Outcome{Err: ErrConnect}) // a second release is ignored
			state, _ := e.Health().State(selNow())
			ttft, _, _ := e.Latency().Values()
			_, failed := e.Stats()
			if state != tc.state || e.Health().ConsecutiveFailures() != tc.consecutive || ttft != tc.ttft ||
				failed != tc.failed || e.Inflight() != 0 || lim.adjusts[1] != tc.adjust {
				t.Fatalf("state %s consecutive %d ttft %v failed %d inflight %d adjust %d", state,
					e.Health().ConsecutiveFailures(), ttft, failed, e.Inflight(), lim.adjusts[1])
			}
		})
	}
}

// TestRouterRecovery: on synctest's clock, an endpoint that keeps failing is
// left for the backup, comes back through a single half-open probe, and a
// failed probe doubles the cooldown.
func TestRouterRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := build([]spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 2, weight: 1}})
		primary := p.Endpoints[0]
		r := NewRouter(RouterOptions{Clock: time.Now})
		next := func() (*Endpoint, func(Outcome)) {
			t.Helper()
			e, rel, err := r.Next(context.Background(), p, nil, Request{Now: time.Now(), Tokens: 1})
			if err != nil {
				t.Fatal(err)
			}
			return e, rel
		}
		fail := Outcome{Err: ErrStatus, Status: 502}
		ok := Outcome{Status: 200, TTFT: 100 * time.Millisecond}
		for range 3 {
			e, rel := next()
			if e != primary {
				t.Fatal("primary not chosen while healthy")
			}
			rel(fail)
		}
		e, rel := next()
		if e == primary {
			t.Fatal("primary chosen while cooling down")
		}
		rel(ok)

		time.Sleep(DefaultCooldown)
		probe, relProbe := next()
		if probe != primary {
			t.Fatal("no probe after the cooldown")
		}
		if e, rel := next(); e == primary {
			t.Fatal("a second request went to the primary while its probe is in flight")
		} else {
			rel(ok)
		}
		relProbe(fail) // the probe fails: cooling down for 20s
		time.Sleep(DefaultCooldown)
		if e, rel := next(); e == primary {
			t.Fatal("the re-trip did not double the cooldown")
		} else {
			rel(ok)
		}
		time.Sleep(DefaultCooldown)
		probe, relProbe = next()
		if probe != primary {
			t.Fatal("no probe after the doubled cooldown")
		}
		relProbe(ok)
		for range 3 {
			e, rel := next()
			if e != primary {
				t.Fatal("the primary did not come back after its probe succeeded")
			}
			rel(ok)
		}
		if st, _ := primary.Health().State(time.Now()); st != StateHealthy {
			t.Fatalf("state %s", st)
		}
	})
}

// TestRouterDrain: a drained endpoint takes no new requests; its in-flight
// one finishes and is recorded.
func TestRouterDrain(t *testing.T) {
	p := build([]spec{{id: 1, prio: 1, weight: 1}, {id: 2, prio: 1, weight: 1, inflight: 3}})
	r := NewRouter(RouterOptions{Selection: SelectorOptions{Rand: keepFirst}, Clock: selNow})
	e, rel, _ := r.Next(context.Background(), p, nil, Request{Now: selNow()})
	if e.ID() != 1 {
		t.Fatal(e.ID())
	}
	e.Health().SetDraining(true)
	for range 3 {
		if e2, rel2, _ := r.Next(context.Background(), p, nil, Request{Now: selNow()}); e2.ID() != 2 {
			t.Fatal("drained endpoint chosen")
		} else {
			rel2(Outcome{})
		}
	}
	rel(Outcome{Status: 200, TTFT: time.Second})
	if e.Inflight() != 0 {
		t.Fatal("in-flight request not released")
	}
	if ttft, _, _ := e.Latency().Values(); ttft != time.Second {
		t.Fatal("the draining endpoint's last call was not recorded")
	}
}

// TestRouterTwoReplicasRedis: two gateways sharing Redis route with the
// usage strategy; together they send each endpoint exactly its RPM, the rest
// to the lower priority or, without one, a 429 with the window's retry-after.
func TestRouterTwoReplicasRedis(t *testing.T) {
	cases := []struct {
		name     string
		backup   bool
		requests int
		want     map[int64]int
		limited  int
	}{
		{"overflow to the backup", true, 40, map[int64]int{1: 10, 2: 5, 3: 25}, 0},
		{"no backup: rate limited", false, 40, map[int64]int{1: 10, 2: 5}, 25},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c1, prefix := redisClient(t)
			c2 := newReplicaClient(t)
			specs := []spec{{id: 1, prio: 1, weight: 1, rpmLim: 10}, {id: 2, prio: 1, weight: 1, rpmLim: 5}}
			if tc.backup {
				specs = append(specs, spec{id: 3, prio: 2, weight: 1})
			}
			type replica struct {
				r *Router
				p *Pool
			}
			replicas := []replica{
				{NewRouter(RouterOptions{Limiter: NewRedisLimiter(c1, prefix)}), build(specs)},
				{NewRouter(RouterOptions{Limiter: NewRedisLimiter(c2, prefix)}), build(specs)},
			}
			for _, rp := range replicas {
				rp.p.Model.Routing = RoutingUsage
			}
			now := selNow() // 45s left in the window
			var mu sync.Mutex
			got := map[int64]int{}
			limited := 0
			var wg sync.WaitGroup
			for i := range tc.requests {
				rp := replicas[i%2]
				wg.Go(func() {
					e, rel, err := rp.r.Next(context.Background(), rp.p, nil, Request{Now: now, Tokens: 10})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						got[e.ID()]++
						rel(Outcome{Status: 200, Tokens: 10})
					case errors.Is(err, ErrRateLimited) && RetryAfter(err) == 45*time.Second:
						limited++
					default:
						t.Errorf("unexpected %v", err)
					}
				})
			}
			wg.Wait()
			if limited != tc.limited || len(got) != len(tc.want) {
				t.Fatalf("per endpoint %v, limited %d; want %v, %d", got, limited, tc.want, tc.limited)
			}
			for id, n := range tc.want {
				if got[id] != n {
					t.Fatalf("per endpoint %v, limited %d; want %v, %d", got, limited, tc.want, tc.limited)
				}
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{"milliseconds win", map[string]string{"Retry-After": "7", "Retry-After-Ms": "250"}, 250 * time.Millisecond},
		{"bad milliseconds fall back to seconds", map[string]string{"Retry-After": "2", "Retry-After-Ms": "soon"}, 2 * time.Second},
		{"http date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"date in the past", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"negative", map[string]string{"Retry-After": "-3"}, 0},
		{"absurd", map[string]string{"Retry-After": "1e300"}, 0},
		{"garbage", map[string]string{"Retry-After": "later"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			if got := ParseRetryAfter(h, now); got != tc.want {
				t.Fatalf("%v, want %v", got, tc.want)
			}
		})
	}
}

func TestOutcomeRetryable(t *testing.T) {
	cases := []struct {
		o    Outcome
		want bool
	}{
		{Outcome{Status: 200}, false},
		{Outcome{Err: ErrConnect}, true},
		{Outcome{Err: ErrTimeout}, true},
		{Outcome{Err: ErrStatus, Status: 429}, true},
		{Outcome{Err: ErrStatus, Status: 408}, true},
		{Outcome{Err: ErrStatus, Status: 500}, true},
		{Outcome{Err: ErrStatus, Status: 503}, true},
		{Outcome{Err: ErrStatus, Status: 400}, false},
		{Outcome{Err: ErrStatus, Status: 401}, false},
		{Outcome{Err: ErrStatus, Status: 404}, false},
		{Outcome{Err: ErrCanceled, Status: 503}, false},
	}
	for _, tc := range cases {
		if got := tc.o.Retryable(); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.o, got, tc.want)
		}
	}
}

func TestRouterNilPool(t *testing.T) {
	if _, _, err := NewRouter(RouterOptions{}).Next(context.Background(), nil, nil, Request{Now: selNow()}); !errors.Is(err, ErrNoEndpoint) {
		t.Fatal(err)
	}
}
