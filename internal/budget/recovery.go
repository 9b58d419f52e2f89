package budget

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/money"
)

// Rebuilding a lost counter (Redis restart, flush, failover).
//
// The database holds every settled cost whose usage row is written; each
// replica's memory (the ledger) holds its open holds and its settles of the
// last RecentSettles, whose rows may not be written yet. A missing counter is
// recreated in the "rec" state (begin) and announced on the event bus; during
// the recovery window every replica re-asserts into it, idempotently by
// request id, its open holds and recent settles for that counter (settles
// made meanwhile land there too). Reservations wait for the window to end.
// Then one replica, under a lock, sums the database leaving out the request
// ids re-asserted as settles and opens the counter with that base: every
// cost is counted once, and holds in flight keep covering their requests.
//
// A counter that never existed (first use of a budget, a new month) skips the
// window: the epoch key, created at the first rebuild and never expiring,
// tells that Redis has not lost data for at least TTL (no hold can be open on
// a counter created since). Redis must run with maxmemory-policy noeviction.

// ledger is what this replica must re-assert into a rebuilt counter.
type ledger struct {
	mu     sync.Mutex
	live   map[string]map[string]liveHold // counter -> reservation id -> hold
	recent map[string]*settleLog          // counter -> settles, oldest first
	gens   map[string]string              // counter -> generation last seen
}

type liveHold struct {
	amount money.Nanos
	exp    time.Time
}

type recentSettle struct {
	id     string
	actual money.Nanos
	at     time.Time
}

func newLedger() *ledger {
	return &ledger{live: map[string]map[string]liveHold{}, recent: map[string]*settleLog{}, gens: map[string]string{}}
}

// seenLocked notes the generation of k in a reply; it reports whether it
// changed (the counter was rebuilt since this replica last touched it).
func (l *ledger) seenLocked(k, gen string) bool {
	prev, known := l.gens[k]
	l.gens[k] = gen
	return known && gen != "" && prev != gen
}

func (l *ledger) hold(k, gen, id string, amount money.Nanos, exp time.Time, changed func(string)) {
	l.mu.Lock()
	m := l.live[k]
	if m == nil {
		m = map[string]liveHold{}
		l.live[k] = m
	}
	m[id] = liveHold{amount, exp}
	ch := l.seenLocked(k, gen)
	l.mu.Unlock()
	if ch {
		changed(k)
	}
}

func (l *ledger) seenGen(k, gen string, changed func(string)) {
	l.mu.Lock()
	ch := l.seenLocked(k, gen)
	l.mu.Unlock()
	if ch {
		changed(k)
	}
}

func (l *ledger) dropLocked(k, id string) {
	if m := l.live[k]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(l.live, k)
		}
	}
}

func (l *ledger) drop(k, id string) {
	l.mu.Lock()
	l.dropLocked(k, id)
	l.mu.Unlock()
}

func (l *ledger) settled(k, id string, actual money.Nanos, at time.Time) {
	l.mu.Lock()
	l.dropLocked(k, id)
	log := l.recent[k]
	if log == nil {
		log = &settleLog{}
		l.recent[k] = log
	}
	log.add(id, actual, at)
	l.mu.Unlock()
}

// snapshot returns k's open holds and its settles since keepSince, forgetting
// older settles.
func (l *ledger) snapshot(k string, keepSince time.Time) ([]string, []liveHold, []recentSettle) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var rs []recentSettle
	if log := l.recent[k]; log != nil {
		if log.dropBefore(keepSince) {
			rs = log.settles()
		} else {
			delete(l.recent, k)
		}
	}
	ids := make([]string, 0, len(l.live[k]))
	holds := make([]liveHold, 0, len(l.live[k]))
	for id, h := range l.live[k] {
		ids = append(ids, id)
		holds = append(holds, h)
	}
	return ids, holds, rs
}

// prune forgets settles older than keepSince on every counter.
func (l *ledger) prune(keepSince time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, log := range l.recent {
		if !log.dropBefore(keepSince) {
			delete(l.recent, k)
		}
	}
}

func (r *Redis) epochKey() string { return r.o.Prefix + "epoch" }

// beginEpochScript: KEYS = K, epoch, K:z; ARGV = gen, real now
// (ms), window (ms), key ttl (s), quiet period (ms). Replies 0 (the counter
// exists), 1 (created with a recovery window) or 2 (created without one).
var beginEpochScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = tonumber(ARGV[2])
local epoch = tonumber(redis.call('GET', KEYS[2]) or '-1')
local slow = epoch < 0 or now - epoch < tonumber(ARGV[5])
if epoch < 0 then redis.call('SET', KEYS[2], ARGV[2]) end
local untl = now
if slow then untl = now + tonumber(ARGV[3]) end
redis.call('HSET', KEYS[1], 'st', 'rec', 'until', untl, 'gen', ARGV[1], 'spent', 0, 'held', 0, 'base', 0)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[3], '+inf', '~')
redis.call('EXPIRE', KEYS[3], ARGV[4])
if slow then return 1 end
return 2
`)

// begin creates a missing counter in the recovering state and, when Redis may
// have lost holds on it, tells every replica to re-assert theirs.
func (r *Redis) begin(ctx context.Context, k keys) error {
	gen := newID()
	v, err := r.run(ctx, "begin", beginEpochScript, []string{k.k, r.epochKey(), k.z},
		gen, time.Now().UnixMilli(), r.o.RecoveryWindow.Milliseconds(), r.keyTTL(k.month),
		r.o.TTL.Milliseconds())
	if err != nil {
		return err
	}
	switch num(v, 0) {
	case 1:
		r.o.Metrics.rebuilt()
		r.log.Warn("budget: counter missing in Redis (lost?); rebuilding it from the database and the replicas",
			"counter", k.k, "window", r.o.RecoveryWindow)
		if r.bus == nil {
			go r.reassert(k.k)
		} else if err := r.bus.Publish(ctx, events.Event{Kind: events.BudgetChanged, ID: "rebuild:" + k.k}); err != nil {
			r.log.Warn("budget: announcing a counter rebuild failed", "counter", k.k, "err", err)
			go r.reassert(k.k)
		}
	case 2:
		r.o.Metrics.rebuilt()
	}
	return nil
}

// errLocked says another replica is finishing the rebuild.
var errLocked = errors.New("budget: rebuild in progress elsewhere")

// awaitRecovery waits for a recovering counter to open, finishing the rebuild
// itself once the window is over.
func (r *Redis) awaitRecovery(ctx context.Context, k keys, b ref, m Month) error {
	deadline := time.Now().Add(r.o.RecoveryWindow + 15*time.Second)
	for time.Now().Before(deadline) {
		v, err := r.c.HMGet(ctx, k.k, "st", "until", "gen").Result()
		if err != nil {
			return err
		}
		st, _ := v[0].(string)
		if st != "rec" {
			return nil // open, or lost again (the caller starts over)
		}
		until := num(v, 1)
		wait := time.Duration(until-time.Now().UnixMilli()) * time.Millisecond
		if wait <= 0 {
			err = r.finish(ctx, k, b, m, str(v, 2))
			if err == nil {
				continue
			}
			if !errors.Is(err, errLocked) {
				return err
			}
			wait = 20 * time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return errors.New("budget: counter rebuild did not finish in time")
}

// finish ends a rebuild under the counter's lock: the database total without
// the request ids re-asserted as settles becomes the base.
func (r *Redis) finish(ctx context.Context, k keys, b ref, m Month, gen string) error {
	token := newID()
	ok, err := r.c.SetNX(ctx, k.lock, token, 30*time.Second).Result()
	if err != nil {
		return err
	}
	if !ok {
		return errLocked
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = unlockScript.Run(uctx, r.c, []string{k.lock}, token).Err()
	}()
	for range 10 {
		ids, err := r.c.HKeys(ctx, k.rs).Result()
		if err != nil {
			return err
		}
		base, err := r.st.SumBudgetSpend(ctx, b.scope, b.target, m.Start, m.End, ids)
		if err != nil {
			return err
		}
		res, err := finishScript.Run(ctx, r.c, []string{k.k, k.rs}, gen, int64(base), len(ids)).Int64()
		if err != nil {
			return err
		}
		if res >= 0 {
			if res == 1 {
				r.log.Info("budget: counter rebuilt from the database", "counter", k.k,
					"base_nanos", int64(base), "reasserted_settles", len(ids))
			}
			return nil
		}
	}
	return errors.New("budget: counter rebuild kept racing with settles")
}

// onEvent re-asserts this replica's state into a counter being rebuilt.
func (r *Redis) onEvent(e events.Event) {
	if e.Kind != events.BudgetChanged {
		return
	}
	if r.leases != nil {
		r.leases.onEvent(e)
	}
	if k, ok := strings.CutPrefix(e.ID, "rebuild:"); ok && strings.HasPrefix(k, r.o.Prefix) {
		go r.reassert(k)
	}
}

func (r *Redis) reassertLater(k string) { go r.reassert(k) }

// reassert re-adds this replica's open holds and recent settles on counter k.
func (r *Redis) reassert(k string) {
	ids, holds, settles := r.led.snapshot(k, r.o.Now().Add(-r.o.RecentSettles))
	if len(ids) == 0 && len(settles) == 0 {
		return
	}
	args := []any{ms(r.o.Now()), r.tomb(), strconv.Itoa(35 * 24 * 3600 * 2), len(ids)}
	for i, id := range ids {
		args = append(args, id, int64(holds[i].amount), ms(holds[i].exp))
	}
	for _, s := range settles {
		args = append(args, s.id, int64(s.actual))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.run(ctx, "reassert", reassertScript, []string{k, k + ":z", k + ":rs"}, args...); err != nil {
		r.log.Error("budget: re-asserting holds into a rebuilt counter failed", "counter", k, "err", err)
		return
	}
	r.log.Info("budget: re-asserted holds and recent settles into a rebuilt counter", "counter", k,
		"holds", len(ids), "settles", len(settles))
}

// pendingSettle is a settle that could not reach Redis yet.
type pendingSettle struct {
	ks     []keys
	id     string
	actual money.Nanos
	since  time.Time
}

// queueSettle keeps a settle for the retry loop.
func (r *Redis) queueSettle(ks []keys, id string, actual money.Nanos) {
	r.pmu.Lock()
	r.pending = append(r.pending, pendingSettle{ks, id, actual, time.Now()})
	r.pmu.Unlock()
}

// retryLoop replays queued settles (idempotent by request id) and forgets old
// ledger entries.
func (r *Redis) retryLoop() {
	defer close(r.done)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.led.prune(r.o.Now().Add(-r.o.RecentSettles))
		r.pmu.Lock()
		todo := r.pending
		r.pending = nil
		r.pmu.Unlock()
		var keep []pendingSettle
		for i, p := range todo {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := r.settle(ctx, p.ks, p.id, p.actual, r.batch)
			cancel()
			if err == nil {
				r.redisUp()
				continue
			}
			if time.Since(p.since) > 2*r.o.TTL {
				r.log.Error("budget: giving up replaying a settle into Redis; the counter is rebuilt from the database when lost",
					"request_id", p.id, "nanos", int64(p.actual), "err", err)
				continue
			}
			keep = append(keep, todo[i:]...)
			break // Redis is still unreachable: try the rest next tick
		}
		if len(keep) > 0 {
			r.pmu.Lock()
			r.pending = append(keep, r.pending...)
			r.pmu.Unlock()
		}
	}
}
