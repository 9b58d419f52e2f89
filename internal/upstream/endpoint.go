// Package upstream holds the provider endpoints a model is served by: their
// runtime state (Endpoint), the per-model group of them (Pool), how one is chosen
// (Selector), how a request to one is built (Provider), and the live registry of
// models kept in memory so the hot path never reads the database.
//
// Router (routing.go) chooses the endpoint of each attempt of a request: the
// model's strategy (selectors.go: weighted, least_inflight, latency, usage and
// the default usage_latency) within priority groups, 1 the highest, a lower
// group used only when no endpoint of a higher one is available; the
// endpoint's circuit breaker and drain flag (health.go, per replica, exported
// as metrics by Collector); its latency averages (latency.go); and its RPM/TPM
// limits in fixed UTC-minute windows (limits.go, shared by every replica
// through Redis in limits_redis.go). An endpoint's runtime state lives in its
// State, shared by id across configuration reloads.
package upstream

import (
	"net/url"
	"strconv"
	"sync/atomic"

	"github.com/antigravity/gateway/internal/store"
)

// Endpoint is one upstream deployment with its decrypted credential and its
// runtime counters. Counters survive configuration reloads (keyed by ID).
type Endpoint struct {
	Config     store.Endpoint
	Credential string   // decrypted; never logged or returned
	Base       *url.URL // parsed base URL (for "fake": the in-process fake provider)
	Label      string   // "id:provider" for metrics and logs

	state *State
}

// State is an endpoint's runtime counters. It is shared by every configuration
// version of the same endpoint id, so a request that started before a reload
// releases into the same counters it acquired from, and the circuit breaker,
// latency averages and usage view outlive reloads.
type State struct {
	inflight atomic.Int64
	requests atomic.Int64
	failures atomic.Int64

	health  Health       // circuit breaker and drain flag (health.go)
	latency LatencyStats // EWMA of TTFT and per-token time (latency.go)
	usage   usageWindow  // this replica's view of the current minute's counts (limits.go)
}

// NewEndpoint returns an endpoint with fresh state (for tests and the registry).
func NewEndpoint(cfg store.Endpoint, credential string, base *url.URL) *Endpoint {
	return &Endpoint{Config: cfg, Credential: credential, Base: base, Label: label(cfg), state: &State{}}
}

// ID returns the endpoint's id.
func (e *Endpoint) ID() int64 { return e.Config.ID }

// Inflight returns the number of requests currently at this endpoint.
func (e *Endpoint) Inflight() int64 { return e.state.inflight.Load() }

// Acquire counts a request in; the returned release counts it out and must be
// called exactly once on every path.
func (e *Endpoint) Acquire() (release func(failed bool)) {
	st := e.state
	st.inflight.Add(1)
	st.requests.Add(1)
	var done atomic.Bool
	return func(failed bool) {
		if done.Swap(true) {
			return
		}
		st.inflight.Add(-1)
		if failed {
			st.failures.Add(1)
		}
	}
}

// Stats returns lifetime counters.
func (e *Endpoint) Stats() (requests, failures int64) {
	return e.state.requests.Load(), e.state.failures.Load()
}

func label(ep store.Endpoint) string {
	return strconv.FormatInt(ep.ID, 10) + ":" + ep.Provider
}
