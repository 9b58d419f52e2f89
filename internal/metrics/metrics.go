// Package metrics defines the gateway's Prometheus collectors, registered on a
// registry passed in (never the global one).
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is every collector of the gateway.
type Metrics struct {
	Registry        *prometheus.Registry
	Requests        *prometheus.CounterVec   // route, model, code
	Duration        *prometheus.HistogramVec // route
	TTFT            *prometheus.HistogramVec // model
	Tokens          *prometheus.CounterVec   // model, kind
	CostNanos       *prometheus.CounterVec   // model
	UpstreamErrors  *prometheus.CounterVec   // endpoint, code
	UpstreamLatency *prometheus.HistogramVec // endpoint
	Attempts        *prometheus.CounterVec   // endpoint, result (ok, failover, error)
	Inflight        prometheus.Gauge
	UsageFlushes    *prometheus.CounterVec // result
	UsageRows       prometheus.Counter
	// BackgroundPanics counts panics of the background loops (each restarted), by loop.
	BackgroundPanics *prometheus.CounterVec
}

// New registers every collector on a fresh registry, with the Go and process
// collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{
		Registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_requests_total", Help: "Requests served, by route, model and HTTP status.",
		}, []string{"route", "model", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_request_duration_seconds", Help: "Time from request to last byte, by route.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"route"}),
		TTFT: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_time_to_first_token_seconds", Help: "Time to the first streamed event, by model.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 5, 10, 30},
		}, []string{"model"}),
		Tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_tokens_total", Help: "Tokens billed, by model and kind (prompt, completion, cached, reasoning).",
		}, []string{"model", "kind"}),
		CostNanos: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_cost_nanodollars_total", Help: "Cost billed in nano-USD, by model.",
		}, []string{"model"}),
		UpstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_errors_total", Help: "Failed upstream calls, by endpoint and error code.",
		}, []string{"endpoint", "code"}),
		UpstreamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_upstream_response_seconds", Help: "Time until the upstream's response headers, by endpoint.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"endpoint"}),
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_attempts_total", Help: "Upstream attempts, by endpoint and result (ok, failover, error).",
		}, []string{"endpoint", "result"}),
		Inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_inflight_requests", Help: "Requests being proxied now.",
		}),
		UsageFlushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_usage_flushes_total", Help: "Usage batch writes, by result.",
		}, []string{"result"}),
		UsageRows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_usage_rows_written_total", Help: "Usage rows written to the database.",
		}),
		BackgroundPanics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_background_panics_total", Help: "Panics of background loops (each restarted after a pause), by loop.",
		}, []string{"loop"}),
	}
	for _, c := range []prometheus.Collector{m.Requests, m.Duration, m.TTFT, m.Tokens, m.CostNanos, m.UpstreamErrors,
		m.UpstreamLatency, m.Attempts, m.Inflight, m.UsageFlushes, m.UsageRows, m.BackgroundPanics} {
		f(c)
	}
	return m
}

// WatchUsagePending registers gateway_usage_pending_rows, read from pending
// at every scrape.
func (m *Metrics) WatchUsagePending(pending func() int) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gateway_usage_pending_rows", Help: "Usage rows waiting to be written.",
	}, func() float64 { return float64(pending()) }))
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Code renders an HTTP status as a label.
func Code(status int) string { return strconv.Itoa(status) }
