package budget

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/money"
)

// Reconciliation with the database.
//
// A counter starts from the database total when it is created and then adds
// the settles of reservations. Spend it never sees: requests served while the
// subject had no budget (before the budget was set, or on replicas whose
// limits cache did not have it yet) settle no-op reservations, and their usage
// rows, like the rows of earlier requests not yet written by the batched usage
// recorder when the counter was created, reach the database afterwards. So
// every replica periodically re-reads the database total of the counters it
// has recently used and raises each counter's spent to max(spent, total),
// atomically. Since a counter's spent is the settled costs, a superset of the
// written rows when nothing was missed, the maximum only repairs what was
// missed: it never counts a cost twice and can only err towards refusing.

// Reconciliation schedule (real time).
const (
	reconcileTick     = 500 * time.Millisecond // how often RunReconcile looks for due counters
	reconcileFast     = time.Second            // interval while a counter is new to this replica
	reconcileFastFor  = 10 * time.Second       // how long a counter counts as new
	reconcileInterval = 5 * time.Second        // interval afterwards
	reconcileIdle     = 2 * time.Minute        // a counter unused this long is no longer reconciled
)

// tracked is a counter this replica has used recently.
type tracked struct {
	ref
	month   Month
	ks      keys // Redis only
	first   time.Time
	lastUse atomic.Int64 // unix ns
	lastRec time.Time    // guarded by tracker.run
}

var noKeys keys // the Redis keys of a Local counter: none

// tracker remembers the counters used recently, for reconciliation. touch is
// on the hot path: a map lookup and an atomic store, no round trip.
type tracker struct {
	m   sync.Map // counter (Redis key or ckey) -> *tracked
	run sync.Mutex
}

func (t *tracker) touch(name any, b ref, m Month, ks keys) {
	now := time.Now()
	if v, ok := t.m.Load(name); ok {
		v.(*tracked).lastUse.Store(now.UnixNano())
		return
	}
	tr := &tracked{ref: b, month: m, ks: ks, first: now}
	tr.lastUse.Store(now.UnixNano())
	if v, loaded := t.m.LoadOrStore(name, tr); loaded {
		v.(*tracked).lastUse.Store(now.UnixNano())
	}
}

// due returns the counters to reconcile now (all of them when all is set),
// forgetting those unused for reconcileIdle. t.run is held.
func (t *tracker) due(all bool) []*tracked {
	now := time.Now()
	var out []*tracked
	t.m.Range(func(k, v any) bool {
		tr := v.(*tracked)
		if now.Sub(time.Unix(0, tr.lastUse.Load())) > reconcileIdle {
			t.m.Delete(k)
			return true
		}
		every := reconcileInterval
		if now.Sub(tr.first) < reconcileFastFor {
			every = reconcileFast
		}
		if all || tr.lastRec.IsZero() || now.Sub(tr.lastRec) >= every {
			out = append(out, tr)
		}
		return true
	})
	return out
}

// reconcileScript: KEYS = K; ARGV = database total. Raises base + spent to the
// total if it is below; skips a counter that is missing or being rebuilt (its
// recovery computes the base from the database itself). Replies the amount
// added, 0 when none, -1 when skipped.
var reconcileScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'st', 'base', 'spent')
if v[1] ~= 'ok' then return -1 end
local base, spent = tonumber(v[2] or '0'), tonumber(v[3] or '0')
local db = tonumber(ARGV[1])
if db <= base + spent then return 0 end
redis.call('HSET', KEYS[1], 'base', string.format('%d', db - spent))
return db - base - spent
`)

// reconcile raises the counters this replica used recently to their database
// totals; all reconciles every one of them now, not only those due.
func (r *Redis) reconcile(ctx context.Context, all bool) {
	r.fallback.reconcile(ctx, all)
	r.track.run.Lock()
	defer r.track.run.Unlock()
	for _, tr := range r.track.due(all) {
		if ctx.Err() != nil {
			return
		}
		// A settle of this replica not yet in Redis may have its usage row
		// written already: raising the counter to the total now would count
		// it twice once the settle lands. Wait until none is pending.
		r.pmu.Lock()
		pending := len(r.pending) > 0
		r.pmu.Unlock()
		if r.leases != nil && r.leases.stuck.Load() > 0 {
			pending = true
		}
		if pending || r.wasDown.Load() {
			return
		}
		total, err := r.st.SumBudgetSpend(ctx, tr.scope, tr.target, tr.month.Start, tr.month.End, nil)
		if err != nil {
			r.log.Warn("budget: reconciling a counter with the database failed", "counter", tr.ks.k, "err", err)
			continue
		}
		tr.lastRec = time.Now()
		v, err := r.run(ctx, "reconcile", reconcileScript, []string{tr.ks.k}, int64(clamp(total)))
		if err != nil {
			r.log.Warn("budget: reconciling a counter with the database failed", "counter", tr.ks.k, "err", err)
			continue
		}
		if added := num(v, 0); added > 0 {
			r.reconciled(tr.ks.k, added, total)
		}
	}
}

func (r *Redis) reconciled(counter string, added int64, total money.Nanos) {
	r.o.Metrics.reconciled(added)
	r.log.Warn("budget: counter was below the database total (spend it never saw); raised it",
		"counter", counter, "added_nanos", added, "database_nanos", int64(total))
}

// reconcile raises the counters used recently to their database totals (see
// Redis.reconcile).
func (l *Local) reconcile(ctx context.Context, all bool) {
	l.track.run.Lock()
	defer l.track.run.Unlock()
	for _, tr := range l.track.due(all) {
		if ctx.Err() != nil {
			return
		}
		total, err := l.st.SumBudgetSpend(ctx, tr.scope, tr.target, tr.month.Start, tr.month.End, nil)
		if err != nil {
			l.log.Warn("budget: reconciling a counter with the database failed", "budget", tr.ref.String(), "err", err)
			continue
		}
		tr.lastRec = time.Now()
		total = clamp(total)
		l.mu.Lock()
		var added money.Nanos
		if c, ok := l.counters[ckey{tr.ref, tr.month.Label}]; ok && total > c.spent {
			added = total - c.spent
			c.spent = total
		}
		l.mu.Unlock()
		if added > 0 {
			l.o.Metrics.reconciled(int64(added))
			l.log.Warn("budget: counter was below the database total (spend it never saw); raised it",
				"budget", tr.ref.String(), "month", tr.month.Label, "added_nanos", int64(added), "database_nanos", int64(total))
		}
	}
}
