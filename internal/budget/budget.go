// Package budget enforces monthly budgets (nano-USD) on users, apps and keys so
// that they cannot be overrun: before an upstream call the proxy reserves the
// request's worst-case cost against every budget that applies, all or none;
// afterwards it settles the hold with the actual cost or releases it.
//
// # Integration
//
// Assembly (internal/gateway): see New, which picks Redis or Local from the
// configuration and registers the metrics; pass the Instance to admin.Deps.Budgets.
//
// Per request (internal/proxy), once the model and subject are known:
//
//	amount := budget.WorstCase(model, promptTokens, maxTokens)
//	bctx := context.WithoutCancel(ctx) // a client cancel must not orphan a hold
//	res, err := budgets.Reserve(bctx, budget.Subject{UserOID: u, AppID: app, KeyID: key, At: start}, requestID, amount)
//	if err != nil { return err }            // *apierror.Error: 429 / 403 / 503
//	defer func() { if !settled { res.Release(bctx) } }() // errors, cancels, panics
//	... upstream call ...
//	res.Settle(bctx, cost) // exactly the usage row's cost, BEFORE Usage.Record(row)
//
// Settle must be called with exactly the Cost written to the request's usage
// row, and before the row is handed to the usage recorder: the Redis counters
// then equal the UsageLogs sums, and a counter rebuilt after a Redis flush
// counts every row exactly once. Subject.At should be the row's CreatedAt so
// that the reservation and the row fall in the same billing month. Reserve is
// one Redis round trip and Settle (or Release) another; a subject without any
// budget costs none. The round trips of concurrent requests are sent together
// (batch.go), and a Redis hold is Deferrable: the proxy settles it with
// SettleDeferred after the response, in a goroutine, so the client never waits
// for a settle and settles share round trips even at moderate rates. With
// leases (RedisOptions.Leases, lease.go) a replica reserves the requests of a
// busy budget against its own slice of it, without any round trip, and their
// settles share one flush.
//
// # Semantics
//
// A budget's month runs in the billing time zone (GATEWAY_BILLING_TZ, default
// UTC). A request is admitted iff, for every budget that applies, spent + held
// + amount <= limit, where spent is the month's settled cost and held the sum
// of outstanding holds; otherwise nothing is held and Reserve returns 429
// insufficient_quota naming the budget and what is left. (With leases, held
// includes each replica's lease, and a request is admitted in process iff it
// fits in its replica's lease; Redis refusing one while some lease has unused
// slack first revokes the leases, so a refusal still means spent plus the
// holds of requests in flight leave no room: see lease.go.) A user budget whose
// spent has reached its limit is reported as 403 kill_switch (the automatic
// block of an exhausted user): it lifts by itself when the month turns or the
// limit is raised, because it is derived from the counters, not stored.
// Settle records the actual cost even above the hold (the truth is never lost)
// and releases the rest. Every hold expires after the reservation TTL; expired
// holds are reclaimed by the next script touching the budget (logged and
// counted), so a replica that dies holding reservations leaks nothing.
//
// # Spend the counters do not see, and reconciliation
//
// A counter is loaded from the database (the month's UsageLogs sum) when it is
// first used, and then adds the costs settled against it. Two kinds of spend
// escape it: requests served while the subject had no budget (before the
// budget was set, or on a replica whose limits cache did not have it yet: a
// budget reaches the replicas by event and reload, so PUT …/budget can return
// before every replica enforces it) get a no-op reservation and settle
// nothing; and the usage rows of earlier requests that the batched usage
// recorder had not written yet (about 200ms plus the write) are missing from
// the total the counter was loaded with. Either would leave the counter below
// the database for the rest of the month.
//
// So every replica reconciles, every few seconds (every second while a
// counter is new to it; Instance.RunReconcile drives this), the counters it
// used in the last couple of minutes: it reads the database total and raises
// the counter's spent to max(spent, total) in one atomic step (a small script
// on Redis, the mutex on Local). A consistent counter's spent is the settled costs, a
// superset of the written rows, so the maximum only repairs what was missed:
// it never counts a cost twice and errs only towards refusing. Counters being
// rebuilt (recovery.go) are skipped, and a Redis replica skips its pass while
// one of its settles is still queued for replay. Requests of subjects without
// a budget still cost no round trip; reconciliation costs one database sum
// (and one script run) per counter in use per interval, off the request path.
//
// What remains is a bounded window: from the moment a budget applies until
// the first reconciliation after the missed rows are written (a few seconds),
// a budget can be overrun by at most that unseen spend, i.e. what requests
// served without the budget (or in flight with unwritten rows) cost meanwhile.
// Instance.Status reloads the budget's limit, so the replica that served a
// PUT …/budget (whose answer shows the budget through it) enforces the new
// limit before answering; other replicas follow on the change event.
//
// # Implementations
//
// Redis (production) runs each step as one Lua script, one round trip: reserve
// over up to three budgets, settle, release. Counters are rebuilt from the
// database when missing (see recovery.go). Local (embedded mode) keeps the same
// counters in process. When Redis is unreachable, Redis fails closed (503
// budget_unavailable, at once for 500ms after a failure rather than waiting on
// every request) unless FailOpen is set, in which case each replica falls back
// to a Local reserver of its own (documented at RedisOptions.FailOpen).
//
// Redis requirements: one primary (standalone or Sentinel; not Cluster, since a
// reservation's script touches the keys of up to three budgets) with
// maxmemory-policy noeviction. Amounts and limits are capped at 2^53-1
// nano-USD (about 9 million USD), where the scripts' numbers stop being exact.
package budget

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/usage"
)

// Subject is who a request is billed to. AppID "" and KeyID 0 mean none.
type Subject struct {
	UserOID string
	AppID   string
	KeyID   int64
	// At picks the billing month: the request's start, which is its usage
	// row's CreatedAt. Zero means now.
	At time.Time
}

// Reserver holds worst-case amounts against budgets.
type Reserver interface {
	// Reserve holds amount against every budget of subj this month, all or
	// none. Errors are *apierror.Error: 429 insufficient_quota naming the
	// budget and what is left, 403 kill_switch for a user whose budget is
	// exhausted, 503 budget_unavailable when the counters cannot be reached
	// (and fail-open is off). A subject without any budget gets a no-op
	// reservation without any round trip.
	Reserve(ctx context.Context, subj Subject, requestID string, amount money.Nanos) (Reservation, error)
}

// Reservation is one request's hold.
type Reservation interface {
	// Settle converts the hold into spent = actual (actual may exceed the hold;
	// it is recorded anyway) and releases the rest. Idempotent; Settle after
	// Release is a no-op.
	Settle(ctx context.Context, actual money.Nanos) error
	// Release drops the hold without spending. Idempotent; a no-op after Settle.
	Release(ctx context.Context) error
}

// Status is what the admin API shows for one budget.
type Status struct {
	Month    string      // YYYY-MM in the billing zone
	Spent    money.Nanos // settled this month
	Reserved money.Nanos // held by requests in flight
	// Default is the budget of a user without one of their own
	// (GATEWAY_DEFAULT_USER_BUDGET_USD); HasDefault is false for apps and keys
	// and when none is configured.
	Default    money.Nanos
	HasDefault bool
}

// Service is a Reserver that also reports a budget's month (for the admin API).
type Service interface {
	Reserver
	Status(ctx context.Context, scope store.BudgetScope, target string) (Status, error)
}

// WorstCase is the most a request can cost: its prompt at the input price plus
// maxOutput tokens (max_tokens / max_completion_tokens; <= 0: the model's
// maximum output, else its context window less the prompt) at the output price.
func WorstCase(m store.Model, promptTokens, maxOutput int64) money.Nanos {
	if maxOutput <= 0 {
		maxOutput = m.MaxOutputTokens
	}
	if maxOutput <= 0 {
		maxOutput = m.ContextWindow - promptTokens
	}
	return usage.Cost(m, usage.Tokens{Prompt: promptTokens, Completion: max(maxOutput, 0)})
}

// maxAmount bounds amounts and limits so the Lua scripts, whose numbers are
// doubles, stay exact (2^53 nano-USD is about 9 million USD).
const maxAmount = money.Nanos(1<<53 - 1)

func clamp(n money.Nanos) money.Nanos { return min(max(n, 0), maxAmount) }

// ref names one budget.
type ref struct {
	scope  store.BudgetScope
	target string
}

func (r ref) String() string { return string(r.scope) + ":" + r.target }

// describe names the budget for a message, e.g. "user 'alice'".
func (r ref) describe() string { return string(r.scope) + " '" + r.target + "'" }

// applied is a budget that applies to a request, with its limit.
type applied struct {
	ref
	limit money.Nanos
}

// Month is one billing month in a zone.
type Month struct {
	Label      string    // YYYY-MM
	Start, End time.Time // [Start, End) in UTC
}

// MonthOf returns the billing month of t in loc.
func MonthOf(t time.Time, loc *time.Location) Month {
	l := t.In(loc)
	start := time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc)
	return Month{
		Label: fmt.Sprintf("%04d-%02d", l.Year(), int(l.Month())),
		Start: start.UTC(),
		End:   start.AddDate(0, 1, 0).UTC(),
	}
}

// errInsufficient is the 429 of a budget that cannot cover the request.
func errInsufficient(b applied, m Month, spent, held, amount money.Nanos) *apierror.Error {
	left := max(b.limit-spent-held, 0)
	msg := fmt.Sprintf("The monthly budget of %s ($%s for %s) has $%s left", b.describe(), b.limit.USD(), m.Label, left.USD())
	if held > 0 {
		msg += fmt.Sprintf(" ($%s is reserved by requests in flight)", held.USD())
	}
	msg += fmt.Sprintf("; this request may cost up to $%s. Lower max_tokens or ask an admin to raise the budget.", amount.USD())
	return &apierror.Error{Status: http.StatusTooManyRequests, Type: "insufficient_quota", Code: "insufficient_quota", Message: msg}
}

// errExhausted is the automatic block of a user whose budget is spent.
func errExhausted(b applied, m Month, spent money.Nanos, loc *time.Location) *apierror.Error {
	return apierror.PermissionDenied("kill_switch", fmt.Sprintf(
		"Blocked: the monthly budget of %s ($%s for %s) is exhausted ($%s spent). The block lifts when the month turns (%s) or when an admin raises the budget.",
		b.describe(), b.limit.USD(), m.Label, spent.USD(), m.End.In(loc).Format("2006-01-02 15:04 MST")))
}

// errUnavailable is the fail-closed answer when the counters cannot be reached.
func errUnavailable(cause error) *apierror.Error {
	e := apierror.Unavailable("budget_unavailable",
		"The gateway cannot check budgets right now (its budget store is unreachable); retry shortly.")
	e.Cause = cause
	return e
}

// Deferrable is a Reservation whose settle is a network round trip (a Redis
// hold). SettleDeferred settles exactly as Settle does, but waits up to a few
// milliseconds to share its round trip with other requests' settles: for
// callers that settle off the request path (the proxy, after the response),
// keeping the order settle, then usage row.
type Deferrable interface {
	Reservation
	SettleDeferred(ctx context.Context, actual money.Nanos) error
}

// nop is the reservation of a request without budgets.
type nop struct{}

func (nop) Settle(context.Context, money.Nanos) error { return nil }
func (nop) Release(context.Context) error             { return nil }
