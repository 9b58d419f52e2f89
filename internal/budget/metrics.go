package budget

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the budget collectors. Gauges are per replica (sum them).
type Metrics struct {
	Outstanding prometheus.Gauge         // holds this replica has open
	Reserved    prometheus.Gauge         // nano-USD those holds amount to
	Rejections  *prometheus.CounterVec   // reason: insufficient_quota, exhausted, unavailable
	Reclaimed   prometheus.Counter       // expired holds reclaimed
	ReclaimedN  prometheus.Counter       // nano-USD of expired holds reclaimed
	Rebuilds    prometheus.Counter       // counters rebuilt from the database
	Fallbacks   prometheus.Counter       // reservations taken by the fail-open fallback
	Reconciled  prometheus.Counter       // nano-USD added to counters found below the database total
	Leased      prometheus.Counter       // reservations taken against a lease, without a round trip
	Revokes     prometheus.Counter       // leases revoked on this replica
	Script      *prometheus.HistogramVec // script: reserve, settle, release, ...
}

// NewMetrics creates the collectors and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Outstanding: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_budget_reservations_outstanding", Help: "Budget reservations held by this replica.",
		}),
		Reserved: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_budget_reserved_nanodollars", Help: "Nano-USD held by this replica's open reservations.",
		}),
		Rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_budget_rejections_total", Help: "Requests refused by budgets, by reason.",
		}, []string{"reason"}),
		Reclaimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_budget_reclaimed_reservations_total", Help: "Expired budget reservations reclaimed.",
		}),
		ReclaimedN: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_budget_reclaimed_nanodollars_total", Help: "Nano-USD of expired reservations reclaimed.",
		}),
		Rebuilds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_budget_counter_rebuilds_total", Help: "Budget counters rebuilt from the database.",
		}),
		Fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_budget_fallback_reservations_total", Help: "Reservations taken by the fail-open local fallback.",
		}),
		Reconciled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_budget_reconciled_nanodollars_total",
			Help: "Nano-USD added to budget counters found below the database total (spend they never saw).",
		}),
		Leased: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_budget_leased_reservations_total",
			Help: "Reservations taken against this replica's budget leases (no Redis round trip).",
		}),
		Revokes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_budget_lease_revokes_total", Help: "Budget leases of this replica revoked (budget near its limit or changed).",
		}),
		Script: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_budget_redis_script_seconds", Help: "Latency of the budget Redis scripts, by script.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5},
		}, []string{"script"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.Outstanding, m.Reserved, m.Rejections, m.Reclaimed,
			m.ReclaimedN, m.Rebuilds, m.Fallbacks, m.Reconciled, m.Leased, m.Revokes, m.Script} {
			reg.MustRegister(c)
		}
	}
	return m
}

// The methods below accept a nil *Metrics.

func (m *Metrics) held(n int, amount int64) {
	if m != nil {
		m.Outstanding.Add(float64(n))
		m.Reserved.Add(float64(amount))
	}
}

func (m *Metrics) rejected(reason string) {
	if m != nil {
		m.Rejections.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) reclaimed(n, amount int64) {
	if m != nil && n > 0 {
		m.Reclaimed.Add(float64(n))
		m.ReclaimedN.Add(float64(amount))
	}
}

func (m *Metrics) rebuilt() {
	if m != nil {
		m.Rebuilds.Inc()
	}
}

func (m *Metrics) fellBack() {
	if m != nil {
		m.Fallbacks.Inc()
	}
}

func (m *Metrics) reconciled(amount int64) {
	if m != nil && amount > 0 {
		m.Reconciled.Add(float64(amount))
	}
}

func (m *Metrics) script(name string, start time.Time) {
	if m != nil {
		m.Script.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}
}

func (m *Metrics) leased() {
	if m != nil {
		m.Leased.Inc()
	}
}

func (m *Metrics) revoked() {
	if m != nil {
		m.Revokes.Inc()
	}
}
