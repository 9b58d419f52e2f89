package upstream

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// step is one moment of a breaker scenario: wait, act, then check (a step
// with neither state nor allow only acts).
type step struct {
	wait   time.Duration // time.Sleep inside the bubble before acting
	act    string        // "fail", "fail-probe", "ok", "ok-probe", "cancel-probe", "drain", "undrain", ""
	ra     time.Duration // retry-after of a failure
	state  string        // expected state after the action
	allow  int           // expected Allow after the action: 0 refuse, 1 allow, 2 allow as probe (holding the slot)
	detail string
}

// TestBreakerLifecycle drives Health through its states on synctest's fake
// clock: trip, cooldown, one probe at a time, recovery, re-trip doubling,
// retry-after, draining.
func TestBreakerLifecycle(t *testing.T) {
	pol := BreakerPolicy{} // defaults: 3 failures, 10s doubling to 5m
	cases := []struct {
		name  string
		steps []step
	}{
		{"trips at the threshold, recovers through one probe", []step{
			{act: "fail", state: StateHealthy, allow: 1, detail: "1 failure"},
			{act: "fail", state: StateHealthy, allow: 1, detail: "2 failures"},
			{act: "fail", state: StateCoolingDown, allow: 0, detail: "3rd failure trips"},
			{wait: 9999 * time.Millisecond, state: StateCoolingDown, allow: 0, detail: "still cooling at 9.999s"},
			{wait: time.Millisecond, state: StateHalfOpen, allow: 2, detail: "cooldown over: one probe"},
			{state: StateHalfOpen, allow: 0, detail: "second concurrent probe refused"},
			{act: "ok-probe", state: StateHealthy, allow: 1, detail: "probe success closes"},
		}},
		{"probe failure re-trips with a doubled cooldown, success resets it", []step{
			{act: "fail"}, {act: "fail"}, {act: "fail", state: StateCoolingDown, allow: 0},
			{wait: 10 * time.Second, state: StateHalfOpen, allow: 2},
			{act: "fail-probe", state: StateCoolingDown, allow: 0, detail: "re-trip"},
			{wait: 19 * time.Second, state: StateCoolingDown, allow: 0, detail: "second cooldown is 20s"},
			{wait: time.Second, state: StateHalfOpen, allow: 2},
			{act: "fail-probe", state: StateCoolingDown, allow: 0},
			{wait: 39 * time.Second, state: StateCoolingDown, allow: 0, detail: "third cooldown is 40s"},
			{wait: time.Second, state: StateHalfOpen, allow: 2},
			{act: "ok-probe", state: StateHealthy, allow: 1},
			{act: "fail"}, {act: "fail"}, {act: "fail", state: StateCoolingDown, allow: 0},
			{wait: 10 * time.Second, state: StateHalfOpen, allow: 2, detail: "back to 10s after a recovery"},
		}},
		{"cooldown doubles up to five minutes", []step{
			{act: "fail"}, {act: "fail"}, {act: "fail"},
			{wait: 10 * time.Second, allow: 2, state: StateHalfOpen}, {act: "fail-probe"}, // 20s
			{wait: 20 * time.Second, allow: 2, state: StateHalfOpen}, {act: "fail-probe"}, // 40s
			{wait: 40 * time.Second, allow: 2, state: StateHalfOpen}, {act: "fail-probe"}, // 80s
			{wait: 80 * time.Second, allow: 2, state: StateHalfOpen}, {act: "fail-probe"}, // 160s
			{wait: 160 * time.Second, allow: 2, state: StateHalfOpen}, {act: "fail-probe"}, // 300s, not 320s
			{wait: 299 * time.Second, allow: 0, state: StateCoolingDown},
			{wait: time.Second, allow: 2, state: StateHalfOpen, detail: "capped at 5m"},
		}},
		{"a retry-after keeps the endpoint out before the threshold", []step{
			{act: "fail", ra: 30 * time.Second, state: StateCoolingDown, allow: 0},
			{wait: 29 * time.Second, state: StateCoolingDown, allow: 0},
			{wait: time.Second, state: StateHalfOpen, allow: 2},
			{act: "ok-probe", state: StateHealthy, allow: 1},
		}},
		{"a retry-after longer than the cooldown extends it", []step{
			{act: "fail"}, {act: "fail"},
			{act: "fail", ra: time.Minute, state: StateCoolingDown, allow: 0},
			{wait: 59 * time.Second, state: StateCoolingDown, allow: 0},
			{wait: time.Second, state: StateHalfOpen, allow: 2},
		}},
		{"a late failure's retry-after extends a running cooldown", []step{
			{act: "fail"}, {act: "fail"}, {act: "fail", state: StateCoolingDown},
			{wait: 5 * time.Second, act: "fail", ra: 20 * time.Second, state: StateCoolingDown, allow: 0},
			{wait: 19 * time.Second, state: StateCoolingDown, allow: 0, detail: "10s cooldown extended to 25s"},
			{wait: time.Second, state: StateHalfOpen, allow: 2},
		}},
		{"an absurd retry-after is capped at the maximum cooldown", []step{
			{act: "fail", ra: 24 * time.Hour, state: StateCoolingDown},
			{wait: 5*time.Minute - time.Second, state: StateCoolingDown, allow: 0},
			{wait: time.Second, state: StateHalfOpen, allow: 2},
		}},
		{"a non-probe success does not close an open breaker", []step{
			{act: "fail"}, {act: "fail"}, {act: "fail", state: StateCoolingDown},
			{act: "ok", state: StateCoolingDown, allow: 0, detail: "a request from before the trip succeeded"},
		}},
		{"a success resets the failure count", []step{
			{act: "fail"}, {act: "fail"}, {act: "ok"},
			{act: "fail"}, {act: "fail", state: StateHealthy, allow: 1},
			{act: "fail", state: StateCoolingDown, allow: 0},
		}},
		{"a cancelled probe frees the slot", []step{
			{act: "fail"}, {act: "fail"}, {act: "fail"},
			{wait: 10 * time.Second, allow: 2, state: StateHalfOpen},
			{allow: 0, state: StateHalfOpen},
			{act: "cancel-probe", allow: 2, state: StateHalfOpen},
		}},
		{"a lost probe slot is given back after the lease", []step{
			{act: "fail"}, {act: "fail"}, {act: "fail"},
			{wait: 10 * time.Second, allow: 2, state: StateHalfOpen},
			{wait: probeLease - time.Second, allow: 0, state: StateHalfOpen},
			{wait: time.Second, allow: 2, state: StateHalfOpen},
		}},
		{"draining refuses new requests whatever the breaker says", []step{
			{act: "drain", state: StateDraining, allow: 0},
			{act: "ok", state: StateDraining, allow: 0, detail: "in-flight requests still report"},
			{act: "undrain", state: StateHealthy, allow: 1},
			{act: "fail"}, {act: "fail"}, {act: "fail"},
			{act: "drain", wait: 10 * time.Second, state: StateDraining, allow: 0, detail: "no probe while draining"},
			{act: "undrain", state: StateHalfOpen, allow: 2},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var h Health
				for i, s := range tc.steps {
					time.Sleep(s.wait)
					now := time.Now()
					switch s.act {
					case "fail":
						h.Failure(now, false, s.ra, pol)
					case "fail-probe":
						h.Failure(now, true, s.ra, pol)
					case "ok":
						h.Success(now, false)
					case "ok-probe":
						h.Success(now, true)
					case "cancel-probe":
						h.CancelProbe()
					case "drain":
						h.SetDraining(true)
					case "undrain":
						h.SetDraining(false)
					}
					if s.state != "" {
						if got, _ := h.State(now); got != s.state {
							t.Fatalf("step %d (%s %s): state %s, want %s", i, s.act, s.detail, got, s.state)
						}
					}
					if s.state == "" && s.allow == 0 {
						continue // bare action step
					}
					avail := h.Available(now)
					ok, probe := h.Allow(now)
					got := 0
					if ok {
						got = 1
						if probe {
							got = 2
						}
					}
					if got != s.allow {
						t.Fatalf("step %d (%s %s): Allow %d, want %d", i, s.act, s.detail, got, s.allow)
					}
					if avail != ok {
						t.Fatalf("step %d: Available %v disagrees with Allow %v", i, avail, ok)
					}
				}
			})
		})
	}
}

// TestHealthInfo: the snapshot carries the breaker, latency, usage and
// in-flight figures, with cooldown_until only while cooling down.
func TestHealthInfo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := ep(7, 1, 1)
		now := time.Now()
		e.Latency().Observe(now, 400*time.Millisecond, 20*time.Millisecond)
		e.state.usage.admit(e, 100, now, true)
		rel := e.Acquire()
		defer rel(false)
		for range 3 {
			e.Health().Failure(now, false, 0, BreakerPolicy{})
		}
		info := e.HealthInfo(now)
		if info.State != StateCoolingDown || info.ConsecutiveFailures != 3 || info.CooldownUntil == nil ||
			!info.CooldownUntil.Equal(now.Add(DefaultCooldown)) || info.EWMATTFTMs != 400 || info.EWMAPerTokenMs != 20 ||
			info.RPM != 1 || info.TPM != 100 || info.Inflight != 1 || info.EndpointID != 7 {
			t.Fatalf("info %+v", info)
		}
		b, _ := json.Marshal(info)
		for _, k := range []string{`"state":"cooling_down"`, `"consecutive_failures":3`, `"cooldown_until":"`, `"ewma_ttft_ms":400`,
			`"ewma_per_token_ms":20`, `"rpm":1`, `"tpm":100`, `"inflight":1`} {
			if !strings.Contains(string(b), k) {
				t.Fatalf("JSON %s lacks %s", b, k)
			}
		}
		time.Sleep(time.Minute)
		info = e.HealthInfo(time.Now())
		if info.State != StateHalfOpen || info.CooldownUntil != nil || info.RPM != 0 || info.TPM != 0 {
			t.Fatalf("a minute later: %+v", info)
		}
	})
}

// TestCollector exports one state gauge per state and the figures per
// endpoint, each endpoint once.
func TestCollector(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC)
	a, b := ep(1, 1, 1), ep(2, 1, 1)
	a.Config.Model, b.Config.Model = "m", "m"
	b.Health().SetDraining(true)
	a.Latency().Observe(now, 250*time.Millisecond, 10*time.Millisecond)
	a.state.usage.admit(a, 40, now, true)
	a.state.usage.admit(a, 60, now, true)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(func() []*Endpoint { return []*Endpoint{a, b, a} }, func() time.Time { return now }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()+labelString(m)] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		`gateway_endpoint_state{endpoint="1:openai",model="m",state="healthy"}`:      1,
		`gateway_endpoint_state{endpoint="1:openai",model="m",state="draining"}`:     0,
		`gateway_endpoint_state{endpoint="2:openai",model="m",state="draining"}`:     1,
		`gateway_endpoint_state{endpoint="2:openai",model="m",state="healthy"}`:      0,
		`gateway_endpoint_ewma_ttft_seconds{endpoint="1:openai",model="m"}`:          0.25,
		`gateway_endpoint_ewma_per_token_seconds{endpoint="1:openai",model="m"}`:     0.01,
		`gateway_endpoint_rpm{endpoint="1:openai",model="m"}`:                        2,
		`gateway_endpoint_tpm{endpoint="1:openai",model="m"}`:                        100,
		`gateway_endpoint_consecutive_failures{endpoint="2:openai",model="m"}`:       0,
		`gateway_endpoint_inflight{endpoint="1:openai",model="m"}`:                   0,
		`gateway_endpoint_state{endpoint="1:openai",model="m",state="cooling_down"}`: 0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if n := len(got); n != 2*(4+6) {
		t.Fatalf("%d series, want 20 (each endpoint once)", n)
	}
}

func labelString(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestAllEndpoints(t *testing.T) {
	a, b, c := ep(3, 1, 1), ep(1, 1, 1), ep(2, 2, 1)
	s := &Snapshot{Models: map[string]*Pool{"x": {Endpoints: []*Endpoint{a, c}}, "y": {Endpoints: []*Endpoint{b}}}}
	got := AllEndpoints(s)
	if len(got) != 3 || got[0] != b || got[1] != c || got[2] != a {
		t.Fatalf("got %v", got)
	}
	if AllEndpoints(nil) != nil {
		t.Fatal("nil snapshot")
	}
}
