package budget

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// Local is the in-process Reserver of embedded mode (one replica), with the
// same semantics as Redis: all-or-none holds over every budget, expiry and
// reclaim of forgotten holds, counters loaded from the database on first use.
// Redis also uses one as its fail-open fallback.
type Local struct {
	limits *Limits
	st     store.Budgets
	o      Options
	log    *slog.Logger

	mu       sync.Mutex
	counters map[ckey]*lcounter
	loads    map[ckey]*load // loads from the database in progress

	track tracker // counters to reconcile with the database
}

// ckey is one budget's counter of one month.
type ckey struct {
	ref
	month string
}

type lcounter struct {
	spent, held money.Nanos
	holds       map[string]lhold
	queue       []qitem // holds in order of expiry (all share one TTL)
}

type lhold struct {
	amount money.Nanos
	exp    time.Time
}

type qitem struct {
	id  string
	exp time.Time
}

type load struct {
	done  chan struct{}
	spent money.Nanos
	err   error
}

// NewLocal returns an in-process reserver whose limits come from limits and
// whose counters start from st's usage sums.
func NewLocal(limits *Limits, st store.Budgets, o Options, log *slog.Logger) *Local {
	if log == nil {
		log = slog.Default()
	}
	return &Local{limits: limits, st: st, o: o.normalized(), log: log,
		counters: map[ckey]*lcounter{}, loads: map[ckey]*load{}}
}

var _ Service = (*Local)(nil)

// newID returns a random reservation id for requests without one.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "rsv-" + hex.EncodeToString(b[:])
}

// counter returns the loaded counter of k, loading it once from the database.
func (l *Local) counter(ctx context.Context, k ckey, m Month) (*lcounter, error) {
	for {
		l.mu.Lock()
		if c, ok := l.counters[k]; ok {
			l.mu.Unlock()
			return c, nil
		}
		ld, loading := l.loads[k]
		if !loading {
			ld = &load{done: make(chan struct{})}
			l.loads[k] = ld
		}
		l.mu.Unlock()
		if loading {
			select {
			case <-ld.done:
				if ld.err != nil {
					return nil, ld.err
				}
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		ld.spent, ld.err = l.st.SumBudgetSpend(ctx, k.scope, k.target, m.Start, m.End, nil)
		l.mu.Lock()
		delete(l.loads, k)
		if ld.err == nil {
			l.counters[k] = &lcounter{spent: ld.spent, holds: map[string]lhold{}}
			l.pruneLocked(m)
		}
		l.mu.Unlock()
		close(ld.done)
		if ld.err != nil {
			return nil, ld.err
		}
	}
}

// pruneLocked forgets the counters without holds of months before the one
// preceding m (requests started last month may still settle into it).
func (l *Local) pruneLocked(m Month) {
	prev := MonthOf(m.Start.Add(-time.Nanosecond), l.o.Location).Label
	for k, c := range l.counters {
		if k.month < prev && len(c.holds) == 0 {
			delete(l.counters, k)
		}
	}
}

// reclaim drops the expired holds of c; l.mu is held.
func (l *Local) reclaim(k ckey, c *lcounter, now time.Time) {
	var n, amount int64
	for len(c.queue) > 0 && !c.queue[0].exp.After(now) {
		q := c.queue[0]
		c.queue = c.queue[1:]
		if h, ok := c.holds[q.id]; ok && h.exp.Equal(q.exp) {
			delete(c.holds, q.id)
			c.held -= h.amount
			n++
			amount += int64(h.amount)
		}
	}
	if n > 0 {
		l.o.Metrics.reclaimed(n, amount)
		l.log.Warn("budget: reclaimed expired reservations", "budget", k.ref.String(), "month", k.month,
			"count", n, "nanos", amount)
	}
}

// Reserve holds amount against every budget of subj, all or none.
func (l *Local) Reserve(ctx context.Context, subj Subject, requestID string, amount money.Nanos) (Reservation, error) {
	bs := l.limits.For(subj)
	if len(bs) == 0 {
		return nop{}, nil
	}
	amount = clamp(amount)
	if requestID == "" {
		requestID = newID()
	}
	m := l.o.monthOf(subj.At)
	keys := make([]ckey, len(bs))
	cs := make([]*lcounter, len(bs))
	for i, b := range bs {
		keys[i] = ckey{b.ref, m.Label}
		c, err := l.counter(ctx, keys[i], m)
		if err != nil {
			l.o.Metrics.rejected("unavailable")
			return nil, errUnavailable(err)
		}
		cs[i] = c
		l.track.touch(keys[i], b.ref, m, noKeys)
	}
	now := l.o.Now()
	exp := now.Add(l.o.TTL)
	l.mu.Lock()
	for i, c := range cs {
		l.reclaim(keys[i], c, now)
	}
	for i, c := range cs {
		if c.spent+c.held+amount > bs[i].limit {
			spent, held := c.spent, c.held
			l.mu.Unlock()
			return nil, l.o.refuse(bs[i], m, spent, held, amount)
		}
	}
	for _, c := range cs {
		if _, dup := c.holds[requestID]; dup {
			requestID += "~" + newID() // a reused request id must not merge two holds
			break
		}
	}
	for _, c := range cs {
		c.holds[requestID] = lhold{amount: amount, exp: exp}
		c.queue = append(c.queue, qitem{requestID, exp})
		c.held += amount
	}
	l.mu.Unlock()
	l.o.Metrics.held(1, int64(amount))
	return &localRes{l: l, keys: keys, id: requestID, amount: amount}, nil
}

// refuse builds the refusal for budget b and counts it.
func (o Options) refuse(b applied, m Month, spent, held, amount money.Nanos) error {
	if b.scope == store.BudgetUser && spent >= b.limit {
		o.Metrics.rejected("exhausted")
		return errExhausted(b, m, spent, o.Location)
	}
	o.Metrics.rejected("insufficient_quota")
	return errInsufficient(b, m, spent, held, amount)
}

// localRes is a Local hold.
type localRes struct {
	l      *Local
	keys   []ckey
	id     string
	amount money.Nanos

	once sync.Once
}

func (r *localRes) finish(actual money.Nanos, settle bool) {
	r.once.Do(func() {
		l := r.l
		l.mu.Lock()
		for _, k := range r.keys {
			c, ok := l.counters[k]
			if !ok {
				continue // forgotten (fallback reset): the usage row carries the cost
			}
			if h, held := c.holds[r.id]; held {
				delete(c.holds, r.id)
				c.held -= h.amount
			}
			if settle {
				c.spent += actual
			}
		}
		l.mu.Unlock()
		l.o.Metrics.held(-1, -int64(r.amount))
	})
}

// Settle records actual as spent and drops the hold.
func (r *localRes) Settle(_ context.Context, actual money.Nanos) error {
	r.finish(max(actual, 0), true)
	return nil
}

// Release drops the hold.
func (r *localRes) Release(context.Context) error {
	r.finish(0, false)
	return nil
}

// Status reports one budget's current month.
func (l *Local) Status(ctx context.Context, scope store.BudgetScope, target string) (Status, error) {
	m := l.o.monthOf(time.Time{})
	k := ckey{ref{scope, target}, m.Label}
	l.mu.Lock()
	c, ok := l.counters[k]
	if ok {
		l.reclaim(k, c, l.o.Now())
		st := Status{Month: m.Label, Spent: c.spent, Reserved: c.held}
		l.mu.Unlock()
		st.Default, st.HasDefault = l.limits.Default(scope)
		return st, nil
	}
	l.mu.Unlock()
	spent, err := l.st.SumBudgetSpend(ctx, scope, target, m.Start, m.End, nil)
	st := Status{Month: m.Label, Spent: spent}
	st.Default, st.HasDefault = l.limits.Default(scope)
	return st, err
}

// forget drops every counter without holds, so the next use reloads it from
// the database (the fallback does this when Redis answers again).
func (l *Local) forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, c := range l.counters {
		if len(c.holds) == 0 {
			delete(l.counters, k)
		}
	}
}
