package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// RedisOptions configure a Redis reserver; zero fields take the defaults.
type RedisOptions struct {
	Options
	// Prefix starts every key (default "gw:budget:").
	Prefix string
	// FailOpen switches to the local fallback when Redis is unreachable,
	// instead of refusing with 503 budget_unavailable (GATEWAY_BUDGET_FAIL_OPEN).
	//
	// The fallback: each replica enforces every budget against the database
	// total (loaded at the first use during the outage) plus its own holds. It
	// does not see the other replicas' holds or settles made during the
	// outage, so N replicas can overrun a budget by what the other N-1 spend
	// during the outage. Settles made by the fallback are replayed into the
	// Redis counters (idempotently, by request id) once Redis answers again,
	// and the fallback's counters are then dropped.
	FailOpen bool
	// RecoveryWindow is how long a counter rebuilt after a loss stays closed
	// while every replica re-asserts its open holds and recent settles
	// (default 1s; events reach every replica well within it).
	RecoveryWindow time.Duration
	// RecentSettles is how long a replica remembers its settles, to re-assert
	// those whose usage rows may not be in the database yet when a counter is
	// rebuilt (default 2m; must exceed the usage recorder's write delay).
	RecentSettles time.Duration
	// Leases lets each replica hold a slice of a budget and reserve against
	// it without a round trip per request (lease.go).
	Leases LeaseOptions
	// Log receives reclaims, rebuilds and failures (default slog.Default()).
	Log *slog.Logger
}

// Redis is the Reserver of production mode; see the package documentation.
type Redis struct {
	c       redis.UniversalClient
	limits  *Limits
	st      store.Budgets
	bus     events.Bus
	o       RedisOptions
	log     *slog.Logger
	led     *ledger
	batch   *batcher // reserves and releases of concurrent requests, run together
	settles *batcher // settles, gathered for settleLinger

	fallback *Local
	leases   *leaseBook // nil: leases off
	// downUntil (unix ns) is the end of the pause after a failed script:
	// meanwhile Reserve does not wait on Redis again (it fails fast, or falls
	// back when fail-open).
	downUntil atomic.Int64
	wasDown   atomic.Bool

	pmu     sync.Mutex
	pending []pendingSettle

	track tracker // counters to reconcile with the database

	unsub  func()
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
}

var _ Service = (*Redis)(nil)

// NewRedis returns a Redis reserver. bus (may be nil in tests with one
// replica) carries the rebuild notices between replicas. Close stops its
// background retry loop.
func NewRedis(c redis.UniversalClient, limits *Limits, st store.Budgets, bus events.Bus, o RedisOptions) *Redis {
	o.Options = o.Options.normalized()
	if o.Prefix == "" {
		o.Prefix = "gw:budget:"
	}
	if o.RecoveryWindow <= 0 {
		o.RecoveryWindow = time.Second
	}
	if o.RecentSettles <= 0 {
		o.RecentSettles = 2 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	r := &Redis{c: c, limits: limits, st: st, bus: bus, o: o, log: o.Log, led: newLedger(),
		stop: make(chan struct{}), done: make(chan struct{})}
	// One batch in flight per batcher: under load the next one gathers
	// meanwhile (larger batches, fewer round trips); idle, a call leaves at
	// once.
	r.batch = newBatcher(c, 0, reserveGather)
	r.settles = newBatcher(c, settleLinger, 0)
	r.fallback = NewLocal(limits, st, o.Options, o.Log)
	if o.Leases.TTL <= 0 {
		// A lease outlives no request's own hold would.
		o.Leases.TTL = min(30*time.Second, o.TTL)
	}
	r.o.Leases = o.Leases.normalized() // also read by refusals when leases are off here
	if o.Leases.Enabled {
		r.leases = newLeaseBook(r)
	}
	if bus != nil {
		r.unsub = bus.Subscribe(r.onEvent)
	}
	go r.retryLoop()
	return r
}

// Close stops the background loop and the event subscription.
func (r *Redis) Close() {
	r.closed.Do(func() {
		if r.unsub != nil {
			r.unsub()
		}
		if r.leases != nil {
			r.leases.close(5 * time.Second)
		}
		close(r.stop)
		<-r.done
		r.batch.close()
		r.settles.close()
	})
}

// keys are the Redis keys of one budget's month.
type keys struct {
	k, z, rs, lock string
	month          Month
}

func (r *Redis) keysOf(b ref, m Month) keys {
	k := r.o.Prefix + string(b.scope) + ":" + b.target + ":" + m.Label
	return keys{k: k, z: k + ":z", rs: k + ":rs", lock: k + ":lock", month: m}
}

// keyTTL keeps a month's keys until well after the month ends.
func (r *Redis) keyTTL(m Month) string {
	d := m.End.Sub(r.o.Now()) + 35*24*time.Hour
	return strconv.FormatInt(max(int64(d/time.Second), 3600), 10)
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// tomb is how long (ms) the marker of a settled, released or reclaimed hold is
// kept.
// A tombstone only has to outlive what can still arrive for its request: a
// duplicate settle (a retry, seconds) and the re-assertion of recent settles
// during a rebuild (RecentSettles). Keeping it for the whole reservation TTL
// made a budget's keys hold rate × TTL entries; twice RecentSettles, at least
// 5 minutes and at most the TTL, is enough. (A settle arriving after its
// reclaimed hold's tombstone is gone is counted the same way as with it.)
func (r *Redis) tomb() string {
	life := min(r.o.TTL, max(5*time.Minute, 2*r.o.RecentSettles))
	return strconv.FormatInt(life.Milliseconds(), 10)
}

// run executes a script (EVALSHA, one round trip; EVAL once after a restart)
// and times it. The hot scripts go through the batcher: still one round trip
// for the caller, shared with the concurrent requests.
func (r *Redis) run(ctx context.Context, name string, s *redis.Script, ks []string, args ...any) ([]any, error) {
	start := time.Now()
	switch s {
	case reserveScript, releaseScript, settleScript:
		v, err := r.batch.run(ctx, name, ks, args)
		r.o.Metrics.script(name, start)
		return v, err
	}
	v, err := s.Run(ctx, r.c, ks, args...).Result()
	r.o.Metrics.script(name, start)
	if err != nil {
		return nil, err
	}
	if arr, ok := v.([]any); ok {
		return arr, nil
	}
	return []any{v}, nil
}

func num(v []any, i int) int64 {
	if i >= len(v) {
		return 0
	}
	switch x := v[i].(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

func str(v []any, i int) string {
	if i >= len(v) {
		return ""
	}
	s, _ := v[i].(string)
	return s
}

// maxAttempts bounds the retries of one Reserve across rebuilds.
const maxAttempts = 8

// Reserve holds amount against every budget of subj, all or none, in one
// script run (one round trip) unless a counter must first be rebuilt.
func (r *Redis) Reserve(ctx context.Context, subj Subject, requestID string, amount money.Nanos) (Reservation, error) {
	bs := r.limits.For(subj)
	if len(bs) == 0 {
		return nop{}, nil
	}
	amount = clamp(amount)
	if requestID == "" {
		requestID = newID()
	}
	m := r.o.monthOf(subj.At)
	ks := make([]keys, len(bs))
	for i, b := range bs {
		ks[i] = r.keysOf(b.ref, m)
	}
	if time.Now().UnixNano() < r.downUntil.Load() {
		return r.unreachable(ctx, errors.New("budget: Redis failed moments ago"), subj, requestID, amount)
	}
	if r.leases != nil {
		if res := r.leases.take(ks, bs, requestID, amount); res != nil {
			r.o.Metrics.held(1, int64(amount))
			r.o.Metrics.leased()
			return res, nil
		}
	}
	names := holdKeys(ks)
	var revokeBy time.Time // set once leases with slack were asked to shrink
	for attempt := 0; attempt < maxAttempts; attempt++ {
		now := r.o.Now()
		exp := now.Add(r.o.TTL)
		args := make([]any, 0, 6+len(bs))
		args = append(args, ms(now), requestID, int64(amount), ms(exp), 0, r.tomb())
		for _, b := range bs {
			args = append(args, int64(b.limit))
		}
		v, err := r.run(ctx, "reserve", reserveScript, names, args...)
		if err != nil {
			// The script may have run before the error (a cancelled context, a
			// lost reply): drop the hold it may have taken, best effort; it
			// would expire anyway.
			go r.releaseOrphan(ks, requestID)
			if ctx.Err() == nil {
				r.downUntil.Store(time.Now().Add(downPause).UnixNano())
			}
			return r.unreachable(ctx, err, subj, requestID, amount)
		}
		r.redisUp()
		switch num(v, 0) {
		case codeOK:
			r.noteReclaims(ks, num(v, 1), num(v, 2))
			for i := range ks {
				r.track.touch(ks[i].k, bs[i].ref, m, ks[i])
				r.led.hold(ks[i].k, str(v, 3+i), requestID, amount, exp, r.reassertLater)
			}
			r.o.Metrics.held(1, int64(amount))
			return &redisRes{r: r, ks: ks, m: m, id: requestID, amount: amount}, nil
		case codeDenied:
			r.noteReclaims(ks, num(v, 4), num(v, 5))
			for i := range ks {
				r.track.touch(ks[i].k, bs[i].ref, m, ks[i])
			}
			i := int(num(v, 1)) - 1
			if (num(v, 6) > 0 || num(v, 7) > 0) && (revokeBy.IsZero() || time.Now().Before(revokeBy)) {
				// Some lease of this budget holds unused slack, or is still
				// open to reserves (its slack changes between flushes): have
				// every lease shrink to its requests in flight, then try again.
				if revokeBy.IsZero() {
					revokeBy = time.Now().Add(r.o.Leases.RevokeWait)
					r.announceRevoke(ctx, ks[i].k)
				}
				if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
					return nil, errUnavailable(err) // the caller is gone: not a refusal
				}
				attempt--
				continue
			}
			return nil, r.o.refuse(bs[i], m, money.Nanos(num(v, 2)), money.Nanos(num(v, 3)), amount)
		case codeMissing:
			i := int(num(v, 1)) - 1
			if err := r.begin(ctx, ks[i]); err != nil {
				return r.unreachable(ctx, err, subj, requestID, amount)
			}
			if err := r.awaitRecovery(ctx, ks[i], bs[i].ref, m); err != nil {
				return nil, r.failed(err)
			}
		case codeRecovering:
			i := int(num(v, 1)) - 1
			if err := r.awaitRecovery(ctx, ks[i], bs[i].ref, m); err != nil {
				return nil, r.failed(err)
			}
		case codeDuplicate:
			requestID += "~" + newID() // a reused request id must not merge two holds
		default:
			return nil, r.failed(fmt.Errorf("budget: unexpected reserve reply %v", v))
		}
	}
	return nil, r.failed(errors.New("budget: reserve did not converge"))
}

// reserveGather bounds how long a reserve waits for others to share its round
// trip when reserves arrive densely (more than one per reserveGather/3): only
// near saturation, where it saves most of the round trips.
const reserveGather = 500 * time.Microsecond

// settleLinger is how long a settle waits for others to share its round trip.
// Nobody waits for a settle but the request's usage row (the proxy settles
// after the response is sent), and the hold keeps covering the request until
// the settle lands, so a few milliseconds cost nothing and save most of the
// settles' Redis work under load.
const settleLinger = 2 * time.Millisecond

// downPause is how long Reserve stops waiting on Redis after a failure.
const downPause = 500 * time.Millisecond

func (r *Redis) failed(err error) error {
	r.o.Metrics.rejected("unavailable")
	return errUnavailable(err)
}

// unreachable answers a Reserve whose script failed: 503, or the local
// fallback when fail-open.
func (r *Redis) unreachable(ctx context.Context, err error, subj Subject, id string, amount money.Nanos) (Reservation, error) {
	if ctx.Err() != nil {
		return nil, errUnavailable(err) // the caller is gone: not a refusal
	}
	if !r.o.FailOpen {
		return nil, r.failed(err)
	}
	if !r.wasDown.Swap(true) {
		r.log.Error("budget: Redis unreachable; using the local fail-open fallback", "err", err)
	}
	res, ferr := r.fallback.Reserve(ctx, subj, id, amount)
	if ferr != nil {
		return nil, ferr
	}
	r.o.Metrics.fellBack()
	if _, ok := res.(nop); ok {
		return res, nil
	}
	lr := res.(*localRes)
	rk := make([]keys, len(lr.keys))
	for i, k := range lr.keys {
		rk[i] = r.keysOf(k.ref, r.o.monthOf(subj.At))
	}
	return &fallbackRes{r: r, local: lr, ks: rk}, nil
}

// redisUp notes a successful script; after an outage the fallback's counters
// are dropped so a later outage starts again from the database.
func (r *Redis) redisUp() {
	if r.wasDown.Load() && r.wasDown.CompareAndSwap(true, false) {
		r.downUntil.Store(0)
		r.log.Info("budget: Redis answers again; leaving the fail-open fallback")
		r.fallback.forget()
	}
}

func (r *Redis) noteReclaims(ks []keys, n, amount int64) {
	if n > 0 {
		r.o.Metrics.reclaimed(n, amount)
		names := make([]string, len(ks))
		for i := range ks {
			names[i] = ks[i].k
		}
		r.log.Warn("budget: reclaimed expired reservations", "counters", names, "count", n, "nanos", amount)
	}
}

// redisRes is a hold in Redis.
type redisRes struct {
	r      *Redis
	ks     []keys
	m      Month
	id     string
	amount money.Nanos
	once   sync.Once
}

// Settle records actual as spent once and drops the hold. A failure is
// retried in the background (the script is idempotent), so no cost is lost.
func (rr *redisRes) Settle(ctx context.Context, actual money.Nanos) error {
	return rr.settle(ctx, actual, rr.r.batch)
}

// SettleDeferred is Settle gathered with other requests' settles for up to
// settleLinger (see Deferrable).
func (rr *redisRes) SettleDeferred(ctx context.Context, actual money.Nanos) error {
	return rr.settle(ctx, actual, rr.r.settles)
}

func (rr *redisRes) settle(ctx context.Context, actual money.Nanos, via *batcher) error {
	var err error
	rr.once.Do(func() {
		actual = max(actual, 0)
		for _, k := range rr.ks {
			rr.r.led.settled(k.k, rr.id, actual, rr.r.o.Now())
		}
		rr.r.o.Metrics.held(-1, -int64(rr.amount))
		err = rr.r.settle(ctx, rr.ks, rr.id, actual, via)
		if err != nil {
			rr.r.queueSettle(rr.ks, rr.id, actual)
		}
	})
	return err
}

// Release drops the hold; on failure the hold expires by itself.
func (rr *redisRes) Release(ctx context.Context) error {
	var err error
	rr.once.Do(func() {
		for _, k := range rr.ks {
			rr.r.led.drop(k.k, rr.id)
		}
		rr.r.o.Metrics.held(-1, -int64(rr.amount))
		ks, args := rr.r.holdArgs(rr.ks, rr.id)
		_, err = rr.r.run(ctx, "release", releaseScript, ks, args...)
	})
	return err
}

func (r *Redis) releaseOrphan(ks []keys, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	names, args := r.holdArgs(ks, id)
	_, _ = r.run(ctx, "release", releaseScript, names, args...)
}

func (r *Redis) holdArgs(ks []keys, id string) ([]string, []any) {
	return holdKeys(ks), []any{ms(r.o.Now()), id, r.tomb()}
}

// holdKeys are the KEYS of the reserve and release scripts: K1..Kn, Z1..Zn.
func holdKeys(ks []keys) []string {
	names := make([]string, 0, 2*len(ks))
	for _, k := range ks {
		names = append(names, k.k)
	}
	for _, k := range ks {
		names = append(names, k.z)
	}
	return names
}

// settle runs the settle script, rebuilding a missing counter first.
func (r *Redis) settle(ctx context.Context, ks []keys, id string, actual money.Nanos, via *batcher) error {
	names := make([]string, 0, 3*len(ks))
	for _, k := range ks {
		names = append(names, k.k)
	}
	for _, k := range ks {
		names = append(names, k.z)
	}
	for _, k := range ks {
		names = append(names, k.rs)
	}
	ttl := r.keyTTL(ks[0].month)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		start := time.Now()
		v, err := via.run(ctx, "settle", names, []any{ms(r.o.Now()), id, int64(actual), r.tomb(), ttl})
		r.o.Metrics.script("settle", start)
		if err != nil {
			return err
		}
		switch num(v, 0) {
		case codeOK:
			r.noteReclaims(ks, num(v, 1), num(v, 2))
			for i, k := range ks {
				r.led.seenGen(k.k, str(v, 3+i), r.reassertLater)
			}
			return nil
		case codeMissing:
			// The counter was lost: start its rebuild; the settle then lands
			// in the recovering counter and is left out of the database total.
			if err := r.begin(ctx, ks[num(v, 1)-1]); err != nil {
				return err
			}
		default:
			return fmt.Errorf("budget: unexpected settle reply %v", v)
		}
	}
	return errors.New("budget: settle did not converge")
}

// fallbackRes is a hold taken by the fail-open fallback; its settle is
// replayed into Redis when it answers again.
type fallbackRes struct {
	r     *Redis
	local *localRes
	ks    []keys
}

func (f *fallbackRes) Settle(ctx context.Context, actual money.Nanos) error {
	actual = max(actual, 0)
	_ = f.local.Settle(ctx, actual)
	for _, k := range f.ks {
		f.r.led.settled(k.k, f.local.id, actual, f.r.o.Now())
	}
	f.r.queueSettle(f.ks, f.local.id, actual)
	return nil
}

func (f *fallbackRes) Release(ctx context.Context) error { return f.local.Release(ctx) }

// Status reports one budget's current month from Redis (the database total
// when the counter does not exist yet).
func (r *Redis) Status(ctx context.Context, scope store.BudgetScope, target string) (Status, error) {
	m := r.o.monthOf(time.Time{})
	k := r.keysOf(ref{scope, target}, m)
	st := Status{Month: m.Label}
	st.Default, st.HasDefault = r.limits.Default(scope)
	v, err := r.c.HMGet(ctx, k.k, "st", "base", "spent", "held", "lslack").Result()
	if err != nil {
		return st, err
	}
	if v[0] == nil || v[0] == "rec" {
		st.Spent, err = r.st.SumBudgetSpend(ctx, scope, target, m.Start, m.End, nil)
		return st, err
	}
	// Unused lease slack (lease.go) is not held by any request.
	st.Spent, st.Reserved = money.Nanos(num(v, 1)+num(v, 2)), money.Nanos(max(num(v, 3)-num(v, 4), 0))
	return st, nil
}
