package budget

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// Leases (RedisOptions.Leases): a replica serving many requests of one budget
// holds a slice of it in Redis as one hold of its own, a lease, and reserves
// its requests against that slice in process. Their reserves then cost no
// round trip, and their settles share one: the lease's flush, which adds the
// sum of their costs to spent (before any of their usage rows is queued, as
// with every settle). This is what keeps a gateway's throughput with budgets
// close to its throughput without them.
//
// Why it stays exact:
//   - A lease is a hold like a request's: spent + held (leases included) never
//     passes the limit when the lease is granted or grown (leaseScript), and a
//     request reserved against a lease fits in the lease, so the total billed
//     stays within the budget across any number of replicas.
//   - A lease takes at most 1/16 of what the budget has left at each growth,
//     so leases hold little near the limit.
//   - A reserve that Redis refuses while some lease still has unused slack
//     (lslack) is not answered at once: the replica announces a revoke of that
//     budget's leases (event bus), every replica shrinks its lease to what its
//     requests in flight hold and stops leasing that budget for
//     LeaseOptions.Cooldown, and the reserve is retried until it is granted or
//     refused with no slack left anywhere (at most RevokeWait). So a request is
//     refused only when budget minus spent minus the holds of requests really
//     in flight cannot cover it.
//   - Each lease hold has its own expiry in Redis (LeaseOptions.TTL, renewed
//     while the replica lives), so a dead replica's lease is reclaimed like
//     any expired hold. A replica stops reserving against a lease it could not
//     renew well before that expiry.
//   - A flush carries a sequence number: replayed after a lost reply, it
//     changes nothing. If the counter was lost or is being rebuilt, the
//     flush's settles go the per-request way instead (idempotent by request
//     id, left out of the rebuilt database total while recovering), and the
//     lease hold is re-asserted like any other (it is in the ledger).
//
// What an admin sees: reserved_usd is Redis's held minus the leases' unused
// slack as of their last flush (a lease reports what its requests hold at
// least every LeaseOptions.Refresh).

// LeaseOptions configure leases; zero fields take the defaults.
type LeaseOptions struct {
	// Enabled turns leases on (GATEWAY_BUDGET_LEASES); off, every request
	// holds its own reservation in Redis.
	Enabled bool
	// Requests sizes a lease's first slack: that many times the worst case of
	// the request that asked for it (default 64). The slack doubles after
	// each flush during which a request found the lease short (demand:
	// requests in flight plus the settles between flushes), always within
	// 1/16 of what the budget has left.
	Requests int
	// TTL is a lease hold's expiry in Redis (default 30s, at most the
	// reservation TTL), renewed every Refresh (default TTL/6) while the
	// replica holds it.
	TTL, Refresh time.Duration
	// Idle: a lease without requests for this long is returned (default 30s).
	Idle time.Duration
	// Cooldown: after a revoke, how long the replicas reserve that budget
	// request by request (default 30s).
	Cooldown time.Duration
	// RevokeWait bounds how long a refused reserve waits for the leases of
	// its budget to be revoked (default 2s).
	RevokeWait time.Duration
	// Linger is how long a flush carrying settles waits for more (default
	// 25ms). Nobody but the usage rows waits for it (the proxy settles after
	// the response, and the lease keeps covering the requests until the
	// flush lands), so it trades only the rows' delay for round trips: at
	// 1,000 req/s on one budget, 5ms gave 0.24 flushes per request and
	// +25-40 µs of gateway CPU per request over the same requests without a
	// budget, 25ms 0.04 and +9-20 µs (docs/perf.md, session 7). An urgent
	// flush does not wait for it.
	Linger time.Duration
}

func (o LeaseOptions) normalized() LeaseOptions {
	if o.Requests <= 0 {
		o.Requests = 64
	}
	if o.TTL <= 0 {
		o.TTL = 30 * time.Second
	}
	if o.Refresh <= 0 {
		o.Refresh = o.TTL / 6
	}
	if o.Idle <= 0 {
		o.Idle = 30 * time.Second
	}
	if o.Cooldown <= 0 {
		o.Cooldown = 30 * time.Second
	}
	if o.RevokeWait <= 0 {
		o.RevokeWait = 2 * time.Second
	}
	if o.Linger <= 0 {
		o.Linger = 25 * time.Millisecond
	}
	return o
}

// leaseBook is one replica's leases.
type leaseBook struct {
	r       *Redis
	o       LeaseOptions
	replica string

	mu     sync.Mutex
	byKey  map[string]*lease    // counter key -> lease
	off    map[string]time.Time // counter key -> no lease before
	closed bool
	loops  sync.WaitGroup
	// stuck counts leases with settles that did not wait for their flush
	// (Redis did not answer) and are not all confirmed yet: their usage rows
	// may be written before their costs reach Redis, so reconciliation waits
	// (as for queued settles).
	stuck atomic.Int32
}

func newLeaseBook(r *Redis) *leaseBook {
	return &leaseBook{r: r, o: r.o.Leases, replica: newID(), byKey: map[string]*lease{}, off: map[string]time.Time{}}
}

// lease is one budget's lease on this replica. Its fields are guarded by the
// book's mutex; Redis is only called from its loop.
type lease struct {
	book  *leaseBook
	k     keys
	b     ref
	id    string
	limit money.Nanos

	amount    money.Nanos // what Redis holds for the lease (at least)
	out       money.Nanos // worst cases of the requests reserved against it, open
	open      int
	unflushed money.Nanos // costs settled against it, not yet in Redis
	items     []leaseItem
	next      chan struct{} // closed when the flush carrying items is done
	slack     money.Nanos   // slack to ask for at the next flush
	unit      money.Nanos   // the worst case of the latest request that missed it
	missed    bool          // a request missed it since the last flush (slack doubled once)
	gaveUp    bool          // a flush was given up at shutdown (Redis unreachable)
	urgent    bool          // a request missed it, or it is closing: flush without lingering
	closing   bool          // revoked, idle or shutting down: no more reserves
	stuck     bool          // a flush is unconfirmed (Redis unreachable): settles do not wait
	unsafe    bool          // settles that did not wait are not all confirmed (counted in book.stuck)
	exp       time.Time     // the hold's expiry in Redis, as last set
	lastUse   time.Time
	seq       int64
	kick      chan struct{}
}

type leaseItem struct {
	id     string
	actual money.Nanos
	at     time.Time
}

// take reserves amount against the leases of every budget in ks, all or none.
// It returns nil when a lease is missing or short; the request then reserves
// in Redis, and the leases are asked to grow.
func (lb *leaseBook) take(ks []keys, bs []applied, id string, amount money.Nanos) *leaseRes {
	now := lb.r.o.Now()
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.closed {
		return nil
	}
	var ls [3]*lease
	if len(ks) > len(ls) {
		return nil
	}
	ok := true
	for i := range ks {
		l := lb.byKey[ks[i].k]
		if l == nil {
			if until, off := lb.off[ks[i].k]; off {
				if now.Before(until) {
					ok = false
					continue
				}
				delete(lb.off, ks[i].k)
			}
			l = lb.startLocked(ks[i], bs[i].ref, now)
		}
		l.limit, l.lastUse = bs[i].limit, now
		if l.closing {
			ok = false
			continue
		}
		want := amount * money.Nanos(lb.o.Requests)
		avail := l.amount - l.out - l.unflushed
		if avail < amount || !now.Before(l.exp.Add(-lb.o.TTL/3)) {
			// A miss: the lease is too small for the demand (requests in
			// flight plus settles between flushes); double its slack.
			ok = false
			if !l.missed {
				l.slack, l.missed = min(max(2*l.slack, want), maxAmount), true
			}
			l.unit = amount
			l.urgent = true
			l.wake()
			continue
		}
		if avail-amount < l.slack/2 {
			l.slack = max(l.slack, want)
			l.urgent = true
			l.wake()
		}
		ls[i] = l
	}
	if !ok {
		return nil
	}
	res := &leaseRes{book: lb, ls: make([]*lease, len(ks)), id: id, amount: amount}
	for i := range ks {
		ls[i].out += amount
		ls[i].open++
		res.ls[i] = ls[i]
	}
	return res
}

// startLocked creates a lease (empty until its loop's first flush).
func (lb *leaseBook) startLocked(k keys, b ref, now time.Time) *lease {
	l := &lease{book: lb, k: k, b: b, id: "L:" + lb.replica + ":" + newID(), next: make(chan struct{}),
		kick: make(chan struct{}, 1), lastUse: now}
	lb.byKey[k.k] = l
	lb.loops.Add(1)
	go l.loop()
	return l
}

func (l *lease) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// revoke closes this replica's lease on counter k (if any) and stops leasing
// it for the cooldown.
func (lb *leaseBook) revoke(k string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.off[k] = lb.r.o.Now().Add(lb.o.Cooldown)
	if l := lb.byKey[k]; l != nil && !l.closing {
		lb.r.o.Metrics.revoked()
		l.closing, l.urgent = true, true
		l.wake()
	}
}

// revokeBudget revokes the leases of every month of budget b (its limit
// changed).
func (lb *leaseBook) revokeBudget(b ref) {
	lb.mu.Lock()
	var ks []string
	for k, l := range lb.byKey {
		if l.b == b {
			ks = append(ks, k)
		}
	}
	lb.mu.Unlock()
	for _, k := range ks {
		lb.revoke(k)
	}
}

// close returns every lease (their requests should have ended: the gateway
// drains first) and waits for the loops, at most wait.
func (lb *leaseBook) close(wait time.Duration) {
	lb.mu.Lock()
	lb.closed = true
	for _, l := range lb.byKey {
		l.closing, l.urgent = true, true
		l.wake()
	}
	lb.mu.Unlock()
	done := make(chan struct{})
	go func() { lb.loops.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		lb.r.log.Warn("budget: leases still in use at shutdown; their holds expire by themselves", "after", wait)
	}
}

// loop flushes the lease when kicked (a settle, a request that missed it, a
// revoke) and renews it every Refresh, until it is returned.
func (l *lease) loop() {
	lb := l.book
	defer lb.loops.Done()
	t := time.NewTimer(0) // the first flush takes the lease
	defer t.Stop()
	for {
		select {
		case <-l.kick:
		case <-t.C:
		}
		lb.mu.Lock()
		linger := !l.urgent && len(l.items) > 0
		lb.mu.Unlock()
		if linger {
			l.linger()
		}
		if l.flush() || l.abandoned() {
			return
		}
		t.Reset(lb.o.Refresh)
	}
}

// linger lets more settles share the flush: it waits up to Linger, and less
// when the flush turns urgent meanwhile (a request missed the lease, a
// revoke, the lease closing), so a long linger never delays a lease's growth.
func (l *lease) linger() {
	lb := l.book
	t := time.NewTimer(lb.o.Linger)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case <-l.kick:
			lb.mu.Lock()
			urgent := l.urgent
			lb.mu.Unlock()
			if urgent {
				return
			}
		}
	}
}

// abandoned reports whether the book closed, nothing waits on the lease any
// more and its return failed (Redis unreachable at shutdown: the hold expires
// by itself). A lease whose return is still to be sent is not abandoned.
func (l *lease) abandoned() bool {
	lb := l.book
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if !lb.closed || !l.gaveUp || l.open > 0 || len(l.items) > 0 {
		return false
	}
	if lb.byKey[l.k.k] == l {
		delete(lb.byKey, l.k.k)
	}
	return true
}

// flush sends the settled costs and sets the lease's size; it reports whether
// the lease is over (returned, with nothing in flight).
func (l *lease) flush() bool {
	lb, r := l.book, l.book.r
	now := r.o.Now()
	lb.mu.Lock()
	if l.open == 0 && now.Sub(l.lastUse) >= lb.o.Idle {
		l.closing = true
	}
	if lb.closed {
		l.closing = true
	}
	items, flushed, done := l.items, l.unflushed, l.next
	l.items, l.unflushed, l.next = nil, 0, make(chan struct{})
	committed := l.out
	// keep: what the lease already covers and may still be relied on until
	// the reply (reserves go on meanwhile against it): the lease minus the
	// flushed costs, or only the requests in flight once closing.
	keep := max(l.amount-flushed, committed)
	want := keep
	if l.closing {
		keep, want = committed, committed
	} else {
		want = max(keep, committed+l.slack)
	}
	l.amount = keep
	l.urgent, l.missed = false, false
	wasStuck := l.stuck // items settled while stuck did not wait: their rows may be written
	l.seq++
	seq := strconv.FormatInt(l.seq, 10)
	limit := l.limit
	lb.mu.Unlock()

	for _, it := range items {
		r.led.settled(l.k.k, it.id, it.actual, it.at)
	}
	exp := now.Add(lb.o.TTL)
	newL, capped, err := l.run(seq, flushed, keep, committed, want, exp, limit, items)
	if err != nil {
		// Not confirmed: the flush is sent again (same seq) until it is; the
		// settles waiting on it, and those made meanwhile, go on without
		// waiting, so their usage rows may reach the database before their
		// costs reach Redis: reconciliation pauses (lb.stuck) until a flush
		// carrying them all is confirmed.
		lb.mu.Lock()
		if !l.unsafe {
			l.unsafe = true
			lb.stuck.Add(1)
		}
		l.stuck = true
		lb.mu.Unlock()
		r.log.Warn("budget: lease flush failed; retrying", "counter", l.k.k, "err", err)
		close(done)
		l.retryUntilDone(seq, flushed, keep, committed, want, exp, limit, items)
		lb.mu.Lock()
		l.stuck = false
		lb.mu.Unlock()
		l.wake() // flush what was settled meanwhile
		return l.finishFlush(now, keep, exp, false, committed)
	}
	close(done)
	lb.mu.Lock()
	if l.unsafe && !wasStuck {
		l.unsafe = false
		lb.stuck.Add(-1)
	}
	lb.mu.Unlock()
	return l.finishFlush(now, newL, exp, capped, committed)
}

// run sends one flush; on a lost or recovering counter the flush's settles go
// the per-request way. It returns the lease's new size, and whether the
// budget's room capped it below want.
func (l *lease) run(seq string, flushed, keep, committed, want money.Nanos, exp time.Time, limit money.Nanos, items []leaseItem) (money.Nanos, bool, error) {
	r := l.book.r
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		v, err := r.run(ctx, "lease", leaseScript, []string{l.k.k, l.k.z},
			ms(r.o.Now()), l.id, seq, int64(flushed), int64(keep), int64(committed), int64(want), ms(exp),
			int64(clamp(limit)), r.tomb(), openFlag(want > committed))
		if err != nil {
			return 0, false, err
		}
		r.redisUp()
		switch num(v, 0) {
		case codeOK, codeDuplicate:
			r.noteReclaims([]keys{l.k}, num(v, 4), num(v, 5))
			newL := money.Nanos(num(v, 1))
			if newL > 0 {
				r.led.hold(l.k.k, str(v, 2), l.id, newL, exp, r.reassertLater)
			} else {
				r.led.drop(l.k.k, l.id)
			}
			r.track.touch(l.k.k, l.b, l.k.month, l.k)
			return newL, num(v, 3) == 1, nil
		case codeMissing, codeRecovering:
			if num(v, 0) == codeMissing {
				if err := r.begin(ctx, l.k); err != nil {
					return 0, false, err
				}
			}
			if err := r.awaitRecovery(ctx, l.k, l.b, l.k.month); err != nil {
				return 0, false, err
			}
			// The recent settles may have been re-asserted by request id:
			// settle them the same way, then flush nothing more.
			for _, it := range items {
				if err := r.settle(ctx, []keys{l.k}, it.id, it.actual, r.batch); err != nil {
					r.queueSettle([]keys{l.k}, it.id, it.actual)
				}
			}
			items, flushed = nil, 0
		default:
			return 0, false, fmt.Errorf("budget: unexpected lease reply %v", v)
		}
	}
	return 0, false, errors.New("budget: lease flush did not converge")
}

// retryUntilDone resends an unconfirmed flush (same seq: applied at most once)
// until it is confirmed or the book closes and Redis still fails.
func (l *lease) retryUntilDone(seq string, flushed, keep, committed, want money.Nanos, exp time.Time, limit money.Nanos, items []leaseItem) {
	lb := l.book
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		time.Sleep(wait)
		if _, _, err := l.run(seq, flushed, keep, committed, want, exp, limit, items); err == nil {
			return
		}
		lb.mu.Lock()
		closed := lb.closed
		lb.mu.Unlock()
		if closed {
			lb.r.log.Error("budget: giving up a lease flush at shutdown; the counter is reconciled with the database",
				"counter", l.k.k, "nanos", int64(flushed))
			lb.mu.Lock()
			l.gaveUp = true
			lb.mu.Unlock()
			return
		}
	}
}

// finishFlush records the lease's new size; it reports whether the lease is
// over.
func (l *lease) finishFlush(now time.Time, newL money.Nanos, exp time.Time, capped bool, committed money.Nanos) bool {
	lb := l.book
	lb.mu.Lock()
	defer lb.mu.Unlock()
	l.amount, l.exp = newL, exp
	if !l.closing && capped && newL-committed < 2*l.unit {
		// The budget is too close to its limit for a useful lease (its room
		// capped the grant below two requests): reserve request by request
		// for a while.
		l.closing = true
		lb.off[l.k.k] = now.Add(lb.o.Cooldown)
	}
	if l.closing && (len(l.items) > 0 || newL > l.out) {
		l.urgent = true
		l.wake() // shrink again: requests ended meanwhile
		return false
	}
	if l.closing && l.open == 0 && len(l.items) == 0 && newL == 0 {
		if lb.byKey[l.k.k] == l {
			delete(lb.byKey, l.k.k)
		}
		return true
	}
	return false
}

// leaseRes is a request reserved against leases.
type leaseRes struct {
	book   *leaseBook
	ls     []*lease
	id     string
	amount money.Nanos
	once   sync.Once
}

func (lr *leaseRes) Settle(ctx context.Context, actual money.Nanos) error {
	var err error
	lr.once.Do(func() { err = lr.finish(ctx, max(actual, 0), true) })
	return err
}

// SettleDeferred is Settle: the lease's flush gathers the settles anyway.
func (lr *leaseRes) SettleDeferred(ctx context.Context, actual money.Nanos) error {
	return lr.Settle(ctx, actual)
}

func (lr *leaseRes) Release(ctx context.Context) error {
	var err error
	lr.once.Do(func() { err = lr.finish(ctx, 0, false) })
	return err
}

// finish returns the request's hold to its leases; a settle then waits until
// its cost is in Redis (the usage row must not be queued before).
func (lr *leaseRes) finish(ctx context.Context, actual money.Nanos, settle bool) error {
	lb := lr.book
	now := lb.r.o.Now()
	var dones [3]chan struct{}
	lb.mu.Lock()
	for i, l := range lr.ls {
		l.out -= lr.amount
		l.open--
		if settle {
			l.items = append(l.items, leaseItem{lr.id, actual, now})
			l.unflushed += actual
		}
		if l.closing {
			// A closing lease holds only its requests in flight (refusals
			// rely on it): shrink it now, and let the request end once the
			// hold no longer counts it.
			l.urgent = true
		}
		if (settle || l.closing) && !l.stuck {
			// While Redis does not answer, the cost waits in the lease
			// (reconciliation waits too) and the row goes on.
			dones[i] = l.next
		}
		if settle || l.closing {
			l.wake()
		}
	}
	lb.mu.Unlock()
	lb.r.o.Metrics.held(-1, -int64(lr.amount))
	for _, d := range dones[:len(lr.ls)] {
		if d == nil {
			continue
		}
		select {
		case <-d:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// onEvent handles the revoke announcements, and a budget's change (its
// leases were sized for the old limit).
func (lb *leaseBook) onEvent(e events.Event) {
	if e.Kind != events.BudgetChanged {
		return
	}
	if k, ok := strings.CutPrefix(e.ID, "revoke:"); ok {
		lb.revoke(k)
		return
	}
	if scope, target, ok := strings.Cut(e.ID, ":"); ok && store.BudgetScope(scope).Valid() {
		lb.revokeBudget(ref{scope: store.BudgetScope(scope), target: target})
	}
}

// openFlag: a lease asking for more than its requests in flight is open to
// reserves; one asking for exactly them is closing (leaseScript's lopen).
func openFlag(open bool) string {
	if open {
		return "1"
	}
	return "0"
}

// announceRevoke asks every replica, this one first, to shrink its lease on
// counter k (a replica with leases off may still see other replicas' leases).
func (r *Redis) announceRevoke(ctx context.Context, k string) {
	if r.leases != nil {
		r.leases.revoke(k)
	}
	if r.bus != nil {
		if err := r.bus.Publish(ctx, events.Event{Kind: events.BudgetChanged, ID: "revoke:" + k}); err != nil {
			r.log.Warn("budget: announcing a lease revoke failed", "counter", k, "err", err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
