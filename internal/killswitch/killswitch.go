// Package killswitch blocks, at once and on every replica, everything, a
// model, an endpoint, a user, an app or a key.
//
// Switches are stored in the database (they survive restarts). A Registry
// keeps the active ones in memory, so Check costs a few map lookups on the hot
// path; it reloads them when an events.KillSwitchChanged event arrives (Redis
// pub/sub in production: every replica within milliseconds), on events.Reset,
// and every refresh interval of Run as a safety net. When a new switch
// arrives, the calls registered with Track that it matches are cancelled with
// the 403 kill_switch error as the context cause, which cuts in-flight
// streams.
//
// Integration (internal/proxy), once the endpoint is chosen:
//
//	subj := killswitch.Subjects{Model: m, Endpoint: strconv.FormatInt(epID, 10), UserOID: u, AppID: app, KeyID: key}
//	if e := registry.Check(subj); e != nil { return e }           // 403 kill_switch
//	ctx, cancel := context.WithCancelCause(ctx)
//	defer registry.Track(subj, cancel)()
//	... relay; on cancellation, context.Cause(ctx) is the *apierror.Error to report
//
// A user whose monthly budget is exhausted is blocked the same way (403
// kill_switch) by package budget, without a stored switch: that block lifts
// when the month turns or the budget is raised.
package killswitch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

// Subjects are what a request touches. Empty fields (and KeyID 0) match no
// switch of their scope.
type Subjects struct {
	Model    string
	Endpoint string // endpoint id in decimal
	UserOID  string
	AppID    string
	KeyID    int64
}

type key struct {
	scope  store.KillScope
	target string
}

// snapshot is an immutable view of the active switches.
type snapshot struct {
	global *store.KillSwitch
	by     map[key]store.KillSwitch
}

func (s *snapshot) match(subj Subjects) *store.KillSwitch {
	if s.global != nil {
		return s.global
	}
	if len(s.by) == 0 {
		return nil
	}
	probe := func(scope store.KillScope, target string) *store.KillSwitch {
		if target == "" {
			return nil
		}
		if k, ok := s.by[key{scope, target}]; ok {
			return &k
		}
		return nil
	}
	for _, k := range []*store.KillSwitch{
		probe(store.KillUser, subj.UserOID),
		probe(store.KillKey, keyTarget(subj.KeyID)),
		probe(store.KillApp, subj.AppID),
		probe(store.KillModel, subj.Model),
		probe(store.KillEndpoint, subj.Endpoint),
	} {
		if k != nil {
			return k
		}
	}
	return nil
}

func keyTarget(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// Registry holds the active switches and the calls in flight.
type Registry struct {
	st  store.KillSwitches
	log *slog.Logger

	snap atomic.Pointer[snapshot]

	reloadMu sync.Mutex // serialises reloads so snapshots only move forward
	mu       sync.Mutex
	next     uint64
	calls    map[uint64]call
	unsub    func()
}

type call struct {
	subj   Subjects
	cancel context.CancelCauseFunc
}

// New loads the active switches from st and subscribes to bus (nil: none).
func New(ctx context.Context, st store.KillSwitches, bus events.Bus, log *slog.Logger) (*Registry, error) {
	if log == nil {
		log = slog.Default()
	}
	r := &Registry{st: st, log: log, calls: map[uint64]call{}}
	r.snap.Store(&snapshot{})
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	if bus != nil {
		r.unsub = bus.Subscribe(r.onEvent)
	}
	return r, nil
}

// Close stops listening to events.
func (r *Registry) Close() {
	if r.unsub != nil {
		r.unsub()
	}
}

func (r *Registry) onEvent(e events.Event) {
	if e.Kind != events.KillSwitchChanged && e.Kind != events.Reset {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Reload(ctx); err != nil {
			r.log.Error("killswitch: reloading the switches failed", "event", e.Kind, "id", e.ID, "err", err)
		}
	}()
}

// Reload replaces the active switches with the store's and cancels the
// tracked calls they block.
func (r *Registry) Reload(ctx context.Context) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	list, err := r.st.ListKillSwitches(ctx, false)
	if err != nil {
		return err
	}
	s := &snapshot{by: map[key]store.KillSwitch{}}
	// Newest first: the oldest switch of a subject wins, so its id is stable.
	for i := len(list) - 1; i >= 0; i-- {
		k := list[i]
		if k.Scope == store.KillGlobal {
			if s.global == nil {
				s.global = &k
			}
			continue
		}
		if _, dup := s.by[key{k.Scope, k.Target}]; !dup {
			s.by[key{k.Scope, k.Target}] = k
		}
	}
	r.snap.Store(s)
	r.sweep(s)
	return nil
}

// Run reloads every interval until ctx ends (missed events heal within it).
func (r *Registry) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Reload(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("killswitch: periodic reload failed", "err", err)
			}
		}
	}
}

// Check returns the 403 kill_switch error of the first active switch matching
// subj, or nil. It does not touch the database.
func (r *Registry) Check(subj Subjects) *apierror.Error {
	if k := r.snap.Load().match(subj); k != nil {
		return Blocked(*k)
	}
	return nil
}

// Active returns the active switches, by id.
func (r *Registry) Active() []store.KillSwitch {
	s := r.snap.Load()
	var out []store.KillSwitch
	if s.global != nil {
		out = append(out, *s.global)
	}
	for _, k := range s.by {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b store.KillSwitch) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Blocked is the error of a request blocked by k.
func Blocked(k store.KillSwitch) *apierror.Error {
	what := "all requests"
	if k.Scope != store.KillGlobal {
		what = fmt.Sprintf("%s '%s'", k.Scope, k.Target)
	}
	msg := fmt.Sprintf("Blocked by an administrator (kill switch %d on %s)", k.ID, what)
	if k.Reason != "" {
		msg += ": " + k.Reason
	}
	return apierror.PermissionDenied("kill_switch", msg+".")
}

// ErrBlocked matches (errors.Is) the cause of a call cut by a switch.
var ErrBlocked = errors.New("killswitch: blocked")

// Track registers an in-flight call; if a switch matching subj arrives before
// untrack is called, cancel runs with the 403 kill_switch *apierror.Error as
// cause (its Cause field wraps ErrBlocked). A call already blocked at Track
// is cancelled at once.
func (r *Registry) Track(subj Subjects, cancel context.CancelCauseFunc) (untrack func()) {
	r.mu.Lock()
	id := r.next
	r.next++
	r.calls[id] = call{subj, cancel}
	r.mu.Unlock()
	if k := r.snap.Load().match(subj); k != nil {
		cancel(cause(*k))
	}
	return func() {
		r.mu.Lock()
		delete(r.calls, id)
		r.mu.Unlock()
	}
}

// Tracked returns the number of calls registered.
func (r *Registry) Tracked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func cause(k store.KillSwitch) error {
	e := Blocked(k)
	e.Cause = ErrBlocked
	return e
}

// sweep cancels the tracked calls s blocks.
func (r *Registry) sweep(s *snapshot) {
	if s.global == nil && len(s.by) == 0 {
		return
	}
	var hit []context.CancelCauseFunc
	var causes []error
	r.mu.Lock()
	for _, c := range r.calls {
		if k := s.match(c.subj); k != nil {
			hit = append(hit, c.cancel)
			causes = append(causes, cause(*k))
		}
	}
	r.mu.Unlock()
	for i, cancel := range hit {
		cancel(causes[i])
	}
	if len(hit) > 0 {
		r.log.Warn("killswitch: cut in-flight calls", "count", len(hit))
	}
}
