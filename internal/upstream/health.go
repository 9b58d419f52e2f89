package upstream

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Health states as reported in HealthInfo and the endpoint state metric.
const (
	StateHealthy     = "healthy"
	StateCoolingDown = "cooling_down"
	StateHalfOpen    = "half_open" // cooldown over: the next request is a probe
	StateDraining    = "draining"
)

// Breaker defaults.
const (
	DefaultFailureThreshold = 3
	DefaultCooldown         = 10 * time.Second
	DefaultMaxCooldown      = 5 * time.Minute
	// probeLease bounds how long a granted probe slot stays taken if its
	// outcome is never reported (a release that was lost): afterwards another
	// probe is allowed. Releases are called on every path, so this is a safety
	// valve only; it is longer than any sane upstream timeout.
	probeLease = 10 * time.Minute
)

// BreakerPolicy tunes the circuit breaker; zero fields take the defaults.
type BreakerPolicy struct {
	Threshold   int           // consecutive failures that trip the breaker (3)
	Cooldown    time.Duration // first cooldown (10s); doubles per re-trip
	MaxCooldown time.Duration // cap of the cooldown and of an upstream retry-after (5m)
}

func (p BreakerPolicy) withDefaults() BreakerPolicy {
	if p.Threshold <= 0 {
		p.Threshold = DefaultFailureThreshold
	}
	if p.Cooldown <= 0 {
		p.Cooldown = DefaultCooldown
	}
	if p.MaxCooldown <= 0 {
		p.MaxCooldown = DefaultMaxCooldown
	}
	return p
}

// cooldown returns the cooldown of the trips-th consecutive trip.
func (p BreakerPolicy) cooldown(trips int) time.Duration {
	d := p.Cooldown
	for i := 1; i < trips && d < p.MaxCooldown; i++ {
		d *= 2
	}
	return min(d, p.MaxCooldown)
}

// Health is an endpoint's circuit breaker and drain flag. It lives in the
// endpoint's State (survives reloads) and is per replica: each gateway
// instance learns an endpoint's failures from its own traffic, as peers do.
//
// Lifecycle: healthy → (Threshold consecutive failures, or a failure carrying
// an upstream retry-after) → cooling_down until the cooldown ends → half-open:
// Allow grants exactly one probe at a time → the probe's success makes it
// healthy again; its failure re-trips it with twice the previous cooldown (up
// to MaxCooldown). An upstream retry-after longer than the cooldown extends it.
// Draining refuses new requests whatever the breaker says; in-flight ones
// finish normally.
//
// Reads on the selection path (Available) are lock-free; transitions take a
// small mutex.
type Health struct {
	mu          sync.Mutex
	open        atomic.Bool  // breaker tripped (cooling down or half-open)
	until       atomic.Int64 // unix ns: end of the cooldown while open
	probeUntil  atomic.Int64 // unix ns: a probe is in flight until then; 0: none
	draining    atomic.Bool
	consecutive atomic.Int64
	trips       int // consecutive trips without a recovery (under mu)
}

// Available reports, without side effects, whether a new request could be
// sent: not draining, and the breaker closed or half-open with the probe slot
// free. Selectors use it; the Router then takes the slot with Allow.
func (h *Health) Available(now time.Time) bool {
	if h.draining.Load() {
		return false
	}
	if !h.open.Load() {
		return true
	}
	n := now.UnixNano()
	return n >= h.until.Load() && n >= h.probeUntil.Load()
}

// Allow decides whether a new request may go to the endpoint now. When the
// breaker is half-open it grants the single probe slot (probe is true); the
// caller must then report the probe's outcome with Success or Failure (probe
// true), or give the slot back with CancelProbe.
func (h *Health) Allow(now time.Time) (ok, probe bool) {
	if h.draining.Load() {
		return false, false
	}
	if !h.open.Load() {
		return true, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.open.Load() {
		return true, false
	}
	n := now.UnixNano()
	if n < h.until.Load() || n < h.probeUntil.Load() {
		return false, false
	}
	h.probeUntil.Store(now.Add(probeLease).UnixNano())
	return true, true
}

// CancelProbe frees a probe slot granted by Allow whose request was never
// sent or whose outcome says nothing about the endpoint (client gone).
func (h *Health) CancelProbe() { h.probeUntil.Store(0) }

// Success records a call the endpoint answered properly. A probe's success
// closes the breaker; other successes only reset the failure count (a request
// that started before the trip proves nothing about now).
func (h *Health) Success(now time.Time, probe bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.consecutive.Store(0)
	if probe || !h.open.Load() {
		h.open.Store(false)
		h.until.Store(0)
		h.probeUntil.Store(0)
		h.trips = 0
	}
}

// Failure records a failed call (connection error, timeout, 429, 5xx).
// retryAfter is the upstream's retry-after (0 when absent); it is capped at
// the policy's MaxCooldown. A probe's failure re-trips the breaker with a
// doubled cooldown; otherwise the breaker trips at the threshold, and a
// retry-after alone keeps the endpoint out for that long.
func (h *Health) Failure(now time.Time, probe bool, retryAfter time.Duration, pol BreakerPolicy) {
	pol = pol.withDefaults()
	retryAfter = min(max(retryAfter, 0), pol.MaxCooldown)
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.consecutive.Add(1)
	trip := func() {
		h.trips++
		d := max(pol.cooldown(h.trips), retryAfter)
		h.until.Store(now.Add(d).UnixNano())
		h.probeUntil.Store(0)
		h.open.Store(true)
	}
	switch {
	case probe:
		trip()
	case !h.open.Load() && n >= int64(pol.Threshold):
		trip()
	case retryAfter > 0:
		// Keep out for the upstream's retry-after; it does not count as a trip
		// (no doubling), and the end of it leads to a half-open probe.
		if end := now.Add(retryAfter).UnixNano(); !h.open.Load() || end > h.until.Load() {
			h.until.Store(end)
		}
		h.open.Store(true)
	}
}

// SetDraining sets or clears the drain flag (admin action).
func (h *Health) SetDraining(on bool) { h.draining.Store(on) }

// Draining reports the drain flag.
func (h *Health) Draining() bool { return h.draining.Load() }

// ConsecutiveFailures returns the failures since the last success.
func (h *Health) ConsecutiveFailures() int64 { return h.consecutive.Load() }

// State returns the breaker state at now and the cooldown end (zero unless
// cooling down).
func (h *Health) State(now time.Time) (state string, until time.Time) {
	switch {
	case h.draining.Load():
		return StateDraining, time.Time{}
	case !h.open.Load():
		return StateHealthy, time.Time{}
	}
	u := h.until.Load()
	if now.UnixNano() < u {
		return StateCoolingDown, time.Unix(0, u).UTC()
	}
	return StateHalfOpen, time.Time{}
}

// cooldownLeft returns how long the endpoint stays cooling down (0 if not).
func (h *Health) cooldownLeft(now time.Time) time.Duration {
	if !h.open.Load() {
		return 0
	}
	return max(time.Duration(h.until.Load()-now.UnixNano()), 0)
}

// HealthInfo is an endpoint's health as the admin API shows it.
type HealthInfo struct {
	EndpointID          int64      `json:"endpoint_id"`
	State               string     `json:"state"` // healthy, cooling_down, half_open, draining
	ConsecutiveFailures int64      `json:"consecutive_failures"`
	CooldownUntil       *time.Time `json:"cooldown_until"` // null unless cooling down
	EWMATTFTMs          float64    `json:"ewma_ttft_ms"`
	EWMAPerTokenMs      float64    `json:"ewma_per_token_ms"`
	RPM                 int64      `json:"rpm"` // current UTC minute
	TPM                 int64      `json:"tpm"`
	Inflight            int64      `json:"inflight"`
}

// Health returns the endpoint's circuit breaker and drain flag.
func (e *Endpoint) Health() *Health { return &e.state.health }

// Latency returns the endpoint's latency averages.
func (e *Endpoint) Latency() *LatencyStats { return &e.state.latency }

// HealthInfo returns a snapshot of the endpoint's health at now. RPM and TPM
// are this replica's view: the shared counts as of its last admission for an
// endpoint with limits, its own traffic for an unlimited one.
func (e *Endpoint) HealthInfo(now time.Time) HealthInfo {
	st := e.state
	state, until := st.health.State(now)
	ttft, perTok, _ := st.latency.Values()
	rpm, tpm := st.usage.current(now)
	info := HealthInfo{
		EndpointID:          e.ID(),
		State:               state,
		ConsecutiveFailures: st.health.ConsecutiveFailures(),
		EWMATTFTMs:          float64(ttft) / float64(time.Millisecond),
		EWMAPerTokenMs:      float64(perTok) / float64(time.Millisecond),
		RPM:                 rpm,
		TPM:                 tpm,
		Inflight:            st.inflight.Load(),
	}
	if !until.IsZero() {
		info.CooldownUntil = &until
	}
	return info
}

// AllEndpoints lists every endpoint of a snapshot once, by id (for the health
// metrics and the admin API).
func AllEndpoints(s *Snapshot) []*Endpoint {
	if s == nil {
		return nil
	}
	var out []*Endpoint
	for _, p := range s.Models {
		out = append(out, p.Endpoints...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

// Collector exports every endpoint's health as Prometheus gauges, read from
// HealthInfo snapshots at scrape time. Register it on the gateway's registry.
type Collector struct {
	list func() []*Endpoint
	now  func() time.Time

	state, failures, ttft, perToken, rpm, tpm, inflight *prometheus.Desc
}

// NewCollector returns a collector over the endpoints list returns (for
// example AllEndpoints of the registry's current snapshot); now is the clock
// (nil: time.Now).
func NewCollector(list func() []*Endpoint, now func() time.Time) *Collector {
	if now == nil {
		now = time.Now
	}
	labels := []string{"endpoint", "model"}
	d := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(labels, extra...), nil)
	}
	return &Collector{
		list: list, now: now,
		state:    d("gateway_endpoint_state", "Endpoint health state (1 for the current one).", "state"),
		failures: d("gateway_endpoint_consecutive_failures", "Consecutive failed calls to the endpoint."),
		ttft:     d("gateway_endpoint_ewma_ttft_seconds", "Moving average of the endpoint's time to first token."),
		perToken: d("gateway_endpoint_ewma_per_token_seconds", "Moving average of the endpoint's time per output token."),
		rpm:      d("gateway_endpoint_rpm", "Requests admitted to the endpoint in the current minute."),
		tpm:      d("gateway_endpoint_tpm", "Tokens counted against the endpoint in the current minute."),
		inflight: d("gateway_endpoint_inflight", "Requests in flight at the endpoint on this replica."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.failures, c.ttft, c.perToken, c.rpm, c.tpm, c.inflight} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	seen := map[int64]bool{}
	for _, e := range c.list() {
		if seen[e.ID()] {
			continue
		}
		seen[e.ID()] = true
		h := e.HealthInfo(now)
		lv := []string{e.Label, e.Config.Model}
		g := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(lv, extra...)...)
		}
		// One gauge per state: 1 for the current one, 0 for the others.
		for _, s := range [...]string{StateHealthy, StateCoolingDown, StateHalfOpen, StateDraining} {
			v := 0.0
			if s == h.State {
				v = 1
			}
			g(c.state, v, s)
		}
		g(c.failures, float64(h.ConsecutiveFailures))
		g(c.ttft, h.EWMATTFTMs/1e3)
		g(c.perToken, h.EWMAPerTokenMs/1e3)
		g(c.rpm, float64(h.RPM))
		g(c.tpm, float64(h.TPM))
		g(c.inflight, float64(h.Inflight))
	}
}
