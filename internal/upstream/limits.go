package upstream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Limiter enforces endpoints' requests-per-minute and tokens-per-minute limits
// (store.Endpoint RPMLimit, TPMLimit; 0 = unlimited).
//
// Windows are fixed UTC minutes of the caller's clock: a request counts in the
// minute it is admitted. This is simpler and cheaper than a sliding window and
// matches how providers reset their per-minute quotas closely enough; the cost
// is that up to twice the limit can pass around a minute boundary.
type Limiter interface {
	// Admit counts one request and tokens (the estimate: prompt plus expected
	// output) in the current window, unless that would exceed the endpoint's
	// RPM or TPM limit: then nothing is counted, ok is false and retryAfter is
	// the time until the window ends. A request always fits into a window with
	// no tokens counted yet, so that one larger than the whole TPM limit is not
	// refused forever. When err is non-nil (the shared store failed), ok and
	// retryAfter are still a usable fallback decision.
	Admit(ctx context.Context, e *Endpoint, tokens int64, now time.Time) (ok bool, retryAfter time.Duration, err error)
	// Usage returns the requests and tokens counted in the window of now.
	Usage(ctx context.Context, e *Endpoint, now time.Time) (rpm, tpm int64, err error)
	// Adjust corrects the token count of the window of at (the admission time)
	// by delta: actual tokens minus the estimate admitted.
	Adjust(ctx context.Context, e *Endpoint, delta int64, at time.Time) error
}

// Limited reports whether the endpoint has an RPM or TPM limit.
func (e *Endpoint) Limited() bool { return e.Config.RPMLimit > 0 || e.Config.TPMLimit > 0 }

// minute returns the index of now's fixed one-minute window.
func minute(now time.Time) int64 { return now.Unix() / 60 }

// untilNextWindow returns the time from now to the start of the next window
// (at least a millisecond, so a retry-after is never zero).
func untilNextWindow(now time.Time) time.Duration {
	end := time.Unix((minute(now)+1)*60, 0)
	return max(end.Sub(now), time.Millisecond)
}

// fits reports whether one more request of tokens fits into a window holding
// rpm requests and tpm tokens. A request costs at least one token, so a window
// exactly at its TPM limit is full.
func fits(e *Endpoint, rpm, tpm, tokens int64) bool {
	c := e.Config
	if c.RPMLimit > 0 && rpm+1 > c.RPMLimit {
		return false
	}
	if c.TPMLimit > 0 && tpm > 0 && tpm+max(tokens, 1) > c.TPMLimit {
		return false
	}
	return true
}

// usageCount is one window's counts; immutable once published.
type usageCount struct{ window, rpm, tpm int64 }

// usageWindow is an endpoint's per-replica view of the current window's
// counts. LocalLimiter counts in it; RedisLimiter refreshes it with the shared
// counts every admission returns, so selectors read usage without a round
// trip. Readers are lock-free; writers take the mutex.
type usageWindow struct {
	mu  sync.Mutex
	cur atomic.Pointer[usageCount]
}

// current returns the counts of now's window (0, 0 when none is recorded).
func (u *usageWindow) current(now time.Time) (rpm, tpm int64) {
	c := u.cur.Load()
	if c == nil || c.window != minute(now) {
		return 0, 0
	}
	return c.rpm, c.tpm
}

// load returns the counts of window w under the mutex (zero for another one).
func (u *usageWindow) load(w int64) usageCount {
	if c := u.cur.Load(); c != nil && c.window == w {
		return *c
	}
	return usageCount{window: w}
}

// admit counts a request in the window of now when it fits (or always, with
// force).
func (u *usageWindow) admit(e *Endpoint, tokens int64, now time.Time, force bool) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	c := u.load(minute(now))
	if !force && !fits(e, c.rpm, c.tpm, tokens) {
		return false
	}
	c.rpm++
	c.tpm += max(tokens, 0)
	u.cur.Store(&c)
	return true
}

// add corrects the tokens of the window of at, if it is still the recorded one.
func (u *usageWindow) add(delta int64, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	w := minute(at)
	if c := u.cur.Load(); c != nil && c.window == w {
		n := *c
		n.tpm = max(n.tpm+delta, 0)
		u.cur.Store(&n)
	}
}

// set records shared counts of window w, unless a later window is recorded.
func (u *usageWindow) set(w, rpm, tpm int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if c := u.cur.Load(); c != nil && c.window > w {
		return
	}
	u.cur.Store(&usageCount{window: w, rpm: rpm, tpm: tpm})
}

// atLimit reports whether the cached counts show that a request of tokens
// would be refused now (the selectors' round-trip-free check).
func (u *usageWindow) atLimit(e *Endpoint, tokens int64, now time.Time) bool {
	if !e.Limited() {
		return false
	}
	rpm, tpm := u.current(now)
	return !fits(e, rpm, tpm, tokens)
}

// headroom returns the smallest remaining share of the endpoint's limits in
// now's window, in [0, 1]; 1 for an unlimited endpoint.
func (u *usageWindow) headroom(e *Endpoint, now time.Time) float64 {
	if !e.Limited() {
		return 1
	}
	rpm, tpm := u.current(now)
	h := 1.0
	if l := e.Config.RPMLimit; l > 0 {
		h = min(h, float64(l-rpm)/float64(l))
	}
	if l := e.Config.TPMLimit; l > 0 {
		h = min(h, float64(l-tpm)/float64(l))
	}
	return max(h, 0)
}

// LocalLimiter enforces limits within this process only (embedded mode, or a
// single replica). Its counts live in the endpoints' State, so they survive
// configuration reloads. It never fails.
type LocalLimiter struct{}

// Admit implements Limiter.
func (LocalLimiter) Admit(_ context.Context, e *Endpoint, tokens int64, now time.Time) (bool, time.Duration, error) {
	if e.state.usage.admit(e, tokens, now, false) {
		return true, 0, nil
	}
	return false, untilNextWindow(now), nil
}

// Usage implements Limiter.
func (LocalLimiter) Usage(_ context.Context, e *Endpoint, now time.Time) (int64, int64, error) {
	rpm, tpm := e.state.usage.current(now)
	return rpm, tpm, nil
}

// Adjust implements Limiter.
func (LocalLimiter) Adjust(_ context.Context, e *Endpoint, delta int64, at time.Time) error {
	e.state.usage.add(delta, at)
	return nil
}
