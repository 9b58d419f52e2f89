package upstream

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisWindowTTL keeps a window's counters a minute past its end (for Adjust
// of calls that straddle the boundary), then Redis drops them.
const redisWindowTTL = 120 * time.Second

// admitScript checks and counts one request atomically: one round trip.
// KEYS[1] window hash (fields r: requests, t: tokens); ARGV: rpm limit, tpm
// limit (0 = none), tokens, ttl seconds. Returns {admitted 0|1, r, t} with the
// counts after the decision.
const admitScript = `
local v = redis.call('HMGET', KEYS[1], 'r', 't')
local r = tonumber(v[1] or 0)
local t = tonumber(v[2] or 0)
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
if (rpm > 0 and r + 1 > rpm) or (tpm > 0 and t > 0 and t + math.max(n, 1) > tpm) then
  return {0, r, t}
end
r = redis.call('HINCRBY', KEYS[1], 'r', 1)
t = redis.call('HINCRBY', KEYS[1], 't', n)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {1, r, t}
`

// adjustScript adds ARGV[1] tokens (floored at 0) and returns {r, t}. It only
// touches an existing window.
const adjustScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local t = redis.call('HINCRBY', KEYS[1], 't', ARGV[1])
if t < 0 then redis.call('HSET', KEYS[1], 't', 0); t = 0 end
local r = tonumber(redis.call('HGET', KEYS[1], 'r') or 0)
return {r, t}
`

// usageScript returns {r, t} of a window.
const usageScript = `
local v = redis.call('HMGET', KEYS[1], 'r', 't')
return {tonumber(v[1] or 0), tonumber(v[2] or 0)}
`

// RedisLimiter enforces limits across every replica sharing one Redis: each
// admission of an endpoint with a limit is one Lua script (one round trip)
// that checks and counts atomically in the key {prefix}:ep:{id}:{minute}
// (expiring after two minutes). Endpoints without limits cost no round trip:
// they are counted in this replica's view only, for the health figures.
//
// Every answer refreshes the endpoint's per-replica usage view, so selectors
// rank endpoints by usage without a round trip and skip one known to be at
// its limit for the rest of the window without asking Redis again (RPM only
// grows within a window; a TPM freed by another replica's Adjust is noticed
// on the next window or admission).
//
// When Redis fails, Admit falls back to this replica's own counts against the
// full limit and returns the error with that decision: availability is
// preferred over strict limits while Redis is down.
type RedisLimiter struct {
	c      redis.Scripter
	prefix string
	admit  *redis.Script
	adjust *redis.Script
	usage  *redis.Script
}

// NewRedisLimiter returns a limiter on client c whose keys start with prefix
// (for example "gw"; tests use a unique one).
func NewRedisLimiter(c redis.Scripter, prefix string) *RedisLimiter {
	return &RedisLimiter{
		c: c, prefix: prefix,
		admit:  redis.NewScript(admitScript),
		adjust: redis.NewScript(adjustScript),
		usage:  redis.NewScript(usageScript),
	}
}

// key names an endpoint's window; the braces make it a Redis Cluster hash tag.
func (l *RedisLimiter) key(e *Endpoint, w int64) string {
	return l.prefix + ":ep:{" + strconv.FormatInt(e.ID(), 10) + "}:" + strconv.FormatInt(w, 10)
}

// Admit implements Limiter.
func (l *RedisLimiter) Admit(ctx context.Context, e *Endpoint, tokens int64, now time.Time) (bool, time.Duration, error) {
	u := &e.state.usage
	if !e.Limited() {
		u.admit(e, tokens, now, true)
		return true, 0, nil
	}
	w := minute(now)
	res, err := l.admit.Run(ctx, l.c, []string{l.key(e, w)},
		e.Config.RPMLimit, e.Config.TPMLimit, max(tokens, 0), int(redisWindowTTL/time.Second)).Int64Slice()
	if err == nil && len(res) != 3 {
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err != nil {
		ok := u.admit(e, tokens, now, false)
		return ok, retryIf(!ok, now), fmt.Errorf("rate limiter: admitting endpoint %d: %w", e.ID(), err)
	}
	u.set(w, res[1], res[2])
	return res[0] == 1, retryIf(res[0] != 1, now), nil
}

func retryIf(refused bool, now time.Time) time.Duration {
	if refused {
		return untilNextWindow(now)
	}
	return 0
}

// Usage implements Limiter: the shared counts for an endpoint with limits
// (one round trip, refreshing the replica's view), this replica's otherwise.
func (l *RedisLimiter) Usage(ctx context.Context, e *Endpoint, now time.Time) (int64, int64, error) {
	u := &e.state.usage
	if !e.Limited() {
		rpm, tpm := u.current(now)
		return rpm, tpm, nil
	}
	w := minute(now)
	res, err := l.usage.Run(ctx, l.c, []string{l.key(e, w)}).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err != nil {
		rpm, tpm := u.current(now)
		return rpm, tpm, fmt.Errorf("rate limiter: reading endpoint %d: %w", e.ID(), err)
	}
	u.set(w, res[0], res[1])
	return res[0], res[1], nil
}

// Adjust implements Limiter.
func (l *RedisLimiter) Adjust(ctx context.Context, e *Endpoint, delta int64, at time.Time) error {
	u := &e.state.usage
	if delta == 0 {
		return nil
	}
	if !e.Limited() {
		u.add(delta, at)
		return nil
	}
	w := minute(at)
	res, err := l.adjust.Run(ctx, l.c, []string{l.key(e, w)}, delta).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err != nil {
		u.add(delta, at)
		return fmt.Errorf("rate limiter: adjusting endpoint %d: %w", e.ID(), err)
	}
	if res[0] > 0 || res[1] > 0 {
		u.set(w, res[0], res[1])
	}
	return nil
}
