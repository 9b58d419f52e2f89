package upstream

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Routing names a model's selection strategy (store.Model.Routing).
const (
	RoutingWeighted      = "weighted"       // random in proportion to weight
	RoutingLeastInflight = "least_inflight" // fewest requests in flight
	RoutingLatency       = "latency"        // lowest expected latency (EWMA)
	RoutingUsage         = "usage"          // most headroom under RPM/TPM limits
	RoutingUsageLatency  = "usage_latency"  // away from limits, then latency
	// DefaultRouting applies when a model's routing is empty.
	DefaultRouting = RoutingUsageLatency
)

// Selection defaults.
const (
	// DefaultOutputTokens is the output length latency scores assume when the
	// request does not say.
	DefaultOutputTokens = 256
	// DefaultStaleAfter is the age after which a latency average is no longer
	// trusted and the endpoint is explored again.
	DefaultStaleAfter = 5 * time.Minute
	// DefaultNearLimit is the headroom (share of a limit left) below which
	// usage_latency avoids an endpoint while others have more.
	DefaultNearLimit = 0.1
)

// ErrRateLimited means every endpoint that could take the request is at its
// RPM or TPM limit: the caller answers 429 rate_limit_exceeded with the
// retry-after of the UnavailableError.
var ErrRateLimited = errors.New("every available endpoint is at its rate limit")

// UnavailableError is returned when no endpoint can take the request. It
// matches ErrRateLimited when the endpoints that are left are only at their
// limits (answer 429), and ErrNoEndpoint otherwise: cooling down, draining or
// all tried (answer 503).
type UnavailableError struct {
	RateLimited bool
	// RetryAfter is when to try again: the end of the limit window, or of the
	// shortest cooldown; 0 when unknown.
	RetryAfter time.Duration
}

func (e *UnavailableError) Error() string {
	msg := ErrNoEndpoint.Error()
	if e.RateLimited {
		msg = ErrRateLimited.Error()
	}
	if e.RetryAfter > 0 {
		msg += " (retry after " + e.RetryAfter.String() + ")"
	}
	return msg
}

// Is makes errors.Is match ErrRateLimited or ErrNoEndpoint.
func (e *UnavailableError) Is(target error) bool {
	if e.RateLimited {
		return target == ErrRateLimited
	}
	return target == ErrNoEndpoint
}

// RetryAfter returns the retry-after carried by a selection error (0 if none).
func RetryAfter(err error) time.Duration {
	var u *UnavailableError
	if errors.As(err, &u) {
		return u.RetryAfter
	}
	return 0
}

// Request is what selection knows about the request being routed.
type Request struct {
	Now time.Time
	// Tokens is the estimate counted against TPM limits (prompt plus expected
	// output).
	Tokens int64
	// OutputTokens is the expected output length for latency scores; 0 takes
	// the selector's default.
	OutputTokens int64
}

// RequestSelector is a Selector that also takes the request's clock and token
// estimates; every selector of this package is one.
type RequestSelector interface {
	Selector
	Choose(p *Pool, tried []*Endpoint, r Request) (*Endpoint, error)
}

// SelectorOptions configures the selectors SelectorFor builds. Zero fields
// take the defaults.
type SelectorOptions struct {
	Now          func() time.Time // clock of Select; nil: time.Now
	Rand         func(n int) int  // random draws in [0, n); nil: math/rand/v2
	OutputTokens int64            // DefaultOutputTokens
	StaleAfter   time.Duration    // DefaultStaleAfter; negative: never stale
	NearLimit    float64          // DefaultNearLimit
}

// ValidRouting reports whether name is a routing strategy ("" is the default).
// The admin API calls it to reject unknown names.
func ValidRouting(name string) error {
	switch name {
	case "", RoutingWeighted, RoutingLeastInflight, RoutingLatency, RoutingUsage, RoutingUsageLatency:
		return nil
	}
	return fmt.Errorf("unknown routing %s: use %s, %s, %s, %s or %s", strconv.Quote(name),
		RoutingWeighted, RoutingLeastInflight, RoutingLatency, RoutingUsage, RoutingUsageLatency)
}

// SelectorFor returns the selector of a routing name ("" is DefaultRouting).
func SelectorFor(routing string, o SelectorOptions) (RequestSelector, error) {
	switch routing {
	case RoutingWeighted:
		return Weighted{Rand: o.Rand, Now: o.Now}, nil
	case RoutingLeastInflight:
		return LeastInflight{Rand: o.Rand, Now: o.Now}, nil
	case RoutingLatency:
		return LowestLatency{Rand: o.Rand, Now: o.Now, OutputTokens: o.OutputTokens, StaleAfter: o.StaleAfter}, nil
	case RoutingUsage:
		return UsageBased{Rand: o.Rand, Now: o.Now}, nil
	case "", RoutingUsageLatency:
		return UsageLatency{Rand: o.Rand, Now: o.Now, OutputTokens: o.OutputTokens, StaleAfter: o.StaleAfter, NearLimit: o.NearLimit}, nil
	}
	return nil, ValidRouting(routing)
}

// Weighted picks at random in proportion to weight within the best (lowest
// number) priority group that still has an available endpoint (not tried,
// breaker allowing, not draining, not known to be at its limit).
type Weighted struct {
	// Rand returns a number in [0, n); nil uses math/rand/v2.
	Rand func(n int) int
	Now  func() time.Time // nil: time.Now
}

// Select implements Selector.
func (w Weighted) Select(p *Pool, tried []*Endpoint) (*Endpoint, error) {
	return w.Choose(p, tried, Request{Now: clock(w.Now)})
}

// Choose implements RequestSelector.
func (w Weighted) Choose(p *Pool, tried []*Endpoint, r Request) (*Endpoint, error) {
	var buf [64]status
	g, err := scanPool(p, tried, r, buf[:])
	if err != nil {
		return nil, err
	}
	count, total := 0, 0
	var only *Endpoint
	for i, e := range p.Endpoints {
		if g.usable(i, e) {
			count++
			total += max(e.Config.Weight, 0)
			only = e
		}
	}
	if count == 1 {
		return only, nil
	}
	rnd := randOr(w.Rand)
	uniform := total == 0 // all weights zero: uniform
	n := 0
	if uniform {
		n = rnd(count)
	} else {
		n = rnd(total)
	}
	for i, e := range p.Endpoints {
		if !g.usable(i, e) {
			continue
		}
		if uniform {
			n--
		} else {
			n -= max(e.Config.Weight, 0)
		}
		if n < 0 {
			return e, nil
		}
	}
	return only, nil
}

// LeastInflight picks the endpoint with the fewest requests in flight on this
// replica within the best available priority group; ties go at random in
// proportion to weight.
type LeastInflight struct {
	Rand func(n int) int
	Now  func() time.Time
}

// Select implements Selector.
func (s LeastInflight) Select(p *Pool, tried []*Endpoint) (*Endpoint, error) {
	return s.Choose(p, tried, Request{Now: clock(s.Now)})
}

// Choose implements RequestSelector.
func (s LeastInflight) Choose(p *Pool, tried []*Endpoint, r Request) (*Endpoint, error) {
	var buf [64]status
	g, err := scanPool(p, tried, r, buf[:])
	if err != nil {
		return nil, err
	}
	var b best
	rnd := randOr(s.Rand)
	for i, e := range p.Endpoints {
		if g.usable(i, e) {
			b.offer(e, 0, rnd)
		}
	}
	return b.e, nil
}

// LowestLatency picks the endpoint with the lowest expected time, ewma_ttft +
// ewma_per_token × expected output tokens, within the best available priority
// group. An endpoint without a recent measurement scores lowest, so it is
// explored first; ties go to the fewest in flight, then at random by weight.
type LowestLatency struct {
	Rand         func(n int) int
	Now          func() time.Time
	OutputTokens int64         // DefaultOutputTokens when 0 (and the request does not say)
	StaleAfter   time.Duration // DefaultStaleAfter when 0; negative: never stale
}

// Select implements Selector.
func (s LowestLatency) Select(p *Pool, tried []*Endpoint) (*Endpoint, error) {
	return s.Choose(p, tried, Request{Now: clock(s.Now)})
}

// Choose implements RequestSelector.
func (s LowestLatency) Choose(p *Pool, tried []*Endpoint, r Request) (*Endpoint, error) {
	var buf [64]status
	g, err := scanPool(p, tried, r, buf[:])
	if err != nil {
		return nil, err
	}
	out, stale := outputTokens(r, s.OutputTokens), staleAfter(s.StaleAfter)
	var b best
	rnd := randOr(s.Rand)
	for i, e := range p.Endpoints {
		if g.usable(i, e) {
			b.offer(e, latencyScore(e, r.Now, out, stale), rnd)
		}
	}
	return b.e, nil
}

// UsageBased picks the endpoint with the most headroom under its limits in
// the current minute (the smaller of RPM and TPM remaining/limit; unlimited is
// full headroom), within the best available priority group. Usage is read
// from the replica's view the limiter refreshes on every admission: no round
// trip. Ties go to the fewest in flight, then at random by weight.
type UsageBased struct {
	Rand func(n int) int
	Now  func() time.Time
}

// Select implements Selector.
func (s UsageBased) Select(p *Pool, tried []*Endpoint) (*Endpoint, error) {
	return s.Choose(p, tried, Request{Now: clock(s.Now)})
}

// Choose implements RequestSelector.
func (s UsageBased) Choose(p *Pool, tried []*Endpoint, r Request) (*Endpoint, error) {
	var buf [64]status
	g, err := scanPool(p, tried, r, buf[:])
	if err != nil {
		return nil, err
	}
	var b best
	rnd := randOr(s.Rand)
	for i, e := range p.Endpoints {
		if g.usable(i, e) {
			b.offer(e, -e.state.usage.headroom(e, r.Now), rnd)
		}
	}
	return b.e, nil
}

// UsageLatency is the default: within the best available priority group it
// leaves out endpoints near their limits (headroom below NearLimit) unless all
// are, then picks the lowest expected latency as LowestLatency does (unknown
// first), ties going to the fewest in flight, then at random by weight.
type UsageLatency struct {
	Rand         func(n int) int
	Now          func() time.Time
	OutputTokens int64
	StaleAfter   time.Duration
	NearLimit    float64 // DefaultNearLimit when 0
}

// Select implements Selector.
func (s UsageLatency) Select(p *Pool, tried []*Endpoint) (*Endpoint, error) {
	return s.Choose(p, tried, Request{Now: clock(s.Now)})
}

// Choose implements RequestSelector.
func (s UsageLatency) Choose(p *Pool, tried []*Endpoint, r Request) (*Endpoint, error) {
	var buf [64]status
	g, err := scanPool(p, tried, r, buf[:])
	if err != nil {
		return nil, err
	}
	near := s.NearLimit
	if near <= 0 {
		near = DefaultNearLimit
	}
	roomy := false // some endpoint of the group is not near its limits
	for i, e := range p.Endpoints {
		if g.usable(i, e) && e.state.usage.headroom(e, r.Now) >= near {
			roomy = true
			break
		}
	}
	out, stale := outputTokens(r, s.OutputTokens), staleAfter(s.StaleAfter)
	var b best
	rnd := randOr(s.Rand)
	for i, e := range p.Endpoints {
		if !g.usable(i, e) || (roomy && e.state.usage.headroom(e, r.Now) < near) {
			continue
		}
		b.offer(e, latencyScore(e, r.Now, out, stale), rnd)
	}
	return b.e, nil
}

// status is an endpoint's standing for one selection.
type status uint8

const (
	stSkip    status = iota // tried, draining or cooling down
	stUsable                // may take the request
	stLimited               // healthy but at its RPM/TPM limit
)

// group is the result of scanPool: each endpoint's status and the best
// priority having a usable one.
type group struct {
	st   []status
	prio int
}

func (g group) usable(i int, e *Endpoint) bool {
	return g.st[i] == stUsable && e.Config.Priority == g.prio
}

// scanPool classifies every endpoint of p (buf is scratch space, used when
// large enough) and returns the best priority group with a usable endpoint,
// or the UnavailableError saying why there is none.
func scanPool(p *Pool, tried []*Endpoint, r Request, buf []status) (group, error) {
	if len(buf) < len(p.Endpoints) {
		buf = make([]status, len(p.Endpoints))
	}
	g := group{st: buf[:len(p.Endpoints)]}
	found, limited := false, false
	cool := time.Duration(0) // shortest cooldown left among skipped endpoints
	for i, e := range p.Endpoints {
		s := stSkip
		switch {
		case contains(tried, e):
		case !e.state.health.Available(r.Now):
			if d := e.state.health.cooldownLeft(r.Now); d > 0 && (cool == 0 || d < cool) {
				cool = d
			}
		case e.state.usage.atLimit(e, r.Tokens, r.Now):
			s, limited = stLimited, true
		default:
			s = stUsable
			if !found || e.Config.Priority < g.prio {
				g.prio, found = e.Config.Priority, true
			}
		}
		g.st[i] = s
	}
	switch {
	case found:
		return g, nil
	case limited:
		return g, &UnavailableError{RateLimited: true, RetryAfter: untilNextWindow(r.Now)}
	default:
		return g, &UnavailableError{RetryAfter: cool}
	}
}

// best keeps the lowest (score, inflight) candidate seen, choosing among ties
// at random in proportion to weight (weighted reservoir sampling: no slice).
type best struct {
	e        *Endpoint
	score    float64
	inflight int64
	weight   int // total weight of the tied candidates seen
}

func (b *best) offer(e *Endpoint, score float64, rnd func(int) int) {
	in, w := e.Inflight(), max(e.Config.Weight, 1)
	switch {
	case b.e == nil || score < b.score || (score == b.score && in < b.inflight):
		*b = best{e: e, score: score, inflight: in, weight: w}
	case score == b.score && in == b.inflight:
		b.weight += w
		if rnd(b.weight) < w {
			b.e = e
		}
	}
}

// latencyScore is the expected duration in nanoseconds, or -1 when unknown
// (so that unmeasured endpoints are explored first).
func latencyScore(e *Endpoint, now time.Time, out int64, stale time.Duration) float64 {
	d, ok := e.state.latency.Expected(now, out, stale)
	if !ok {
		return -1
	}
	return float64(d)
}

func outputTokens(r Request, def int64) int64 {
	switch {
	case r.OutputTokens > 0:
		return r.OutputTokens
	case def > 0:
		return def
	}
	return DefaultOutputTokens
}

func staleAfter(d time.Duration) time.Duration {
	if d == 0 {
		return DefaultStaleAfter
	}
	return d // negative: Expected never considers a sample stale
}

func randOr(f func(int) int) func(int) int {
	if f == nil {
		return rand.IntN
	}
	return f
}

func clock(now func() time.Time) time.Time {
	if now == nil {
		return time.Now()
	}
	return now()
}
