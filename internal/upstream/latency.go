package upstream

import (
	"math"
	"sync/atomic"
	"time"
)

// latencyAlpha is the weight of a new sample in the latency EWMAs: 0.2 lets
// the average follow a change of speed within about ten requests while one slow
// request moves it by a fifth only.
const latencyAlpha = 0.2

// LatencyStats is an endpoint's exponentially weighted moving averages of time
// to first token and of time per output token, lock-free. The zero value has
// no samples. It lives in the endpoint's State, so it survives reloads.
type LatencyStats struct {
	ttft     ewma
	perToken ewma
	last     atomic.Int64 // unix nanoseconds of the last sample; 0: none
}

// Observe records one successful call. ttft is the time from sending the
// request to the first token (for a non-streaming call: to the response);
// perToken is the generation time per output token after the first (0 when
// not measured, e.g. non-streaming). Non-positive values are not recorded.
func (l *LatencyStats) Observe(now time.Time, ttft, perToken time.Duration) {
	if ttft <= 0 && perToken <= 0 {
		return
	}
	if ttft > 0 {
		l.ttft.add(float64(ttft))
	}
	if perToken > 0 {
		l.perToken.add(float64(perToken))
	}
	l.last.Store(now.UnixNano())
}

// Values returns the averages (0 when never measured) and whether any sample
// exists.
func (l *LatencyStats) Values() (ttft, perToken time.Duration, ok bool) {
	t, p := l.ttft.load(), l.perToken.load()
	return time.Duration(t), time.Duration(p), t > 0 || p > 0
}

// LastSample returns the time of the last sample (zero when none).
func (l *LatencyStats) LastSample() time.Time {
	n := l.last.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Expected returns the expected duration of a call producing outTokens output
// tokens: ewma_ttft + ewma_per_token × outTokens. known is false when there is
// no sample, or when the last one is older than staleAfter (> 0), so that
// selectors explore the endpoint again instead of trusting an old figure.
func (l *LatencyStats) Expected(now time.Time, outTokens int64, staleAfter time.Duration) (d time.Duration, known bool) {
	last := l.last.Load()
	if last == 0 || (staleAfter > 0 && now.UnixNano()-last > int64(staleAfter)) {
		return 0, false
	}
	v := l.ttft.load() + l.perToken.load()*float64(max(outTokens, 0))
	if v >= math.MaxInt64 {
		return time.Duration(math.MaxInt64), true
	}
	return time.Duration(v), true
}

// ewma is a float64 moving average updated with compare-and-swap; 0 means no
// sample (the first sample is taken as is).
type ewma struct{ bits atomic.Uint64 }

func (e *ewma) load() float64 { return math.Float64frombits(e.bits.Load()) }

func (e *ewma) add(x float64) {
	for {
		old := e.bits.Load()
		v := math.Float64frombits(old)
		next := x
		if v > 0 {
			next = v + latencyAlpha*(x-v)
		}
		if e.bits.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}
