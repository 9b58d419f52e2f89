package budget

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/reqscope"
)

// TestSettleLogMatchesASlice runs random adds and drops on a settleLog and on
// a plain slice of settles, and compares what they hold after every step.
func TestSettleLogMatchesASlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for run := range 50 {
		var log settleLog
		var model []recentSettle
		clock := t0
		for step := range 400 {
			if rng.IntN(4) > 0 {
				clock = clock.Add(time.Duration(rng.IntN(3)) * time.Millisecond) // equal times too
				id := fmt.Sprintf("req-%d-%d-%s", run, step, string(make([]byte, rng.IntN(5))))
				s := recentSettle{id: id, actual: money.Nanos(rng.Int64N(1e9)), at: clock}
				log.add(s.id, s.actual, s.at)
				model = append(model, s)
			} else {
				cut := clock.Add(-time.Duration(rng.IntN(200)) * time.Millisecond)
				i := 0
				for i < len(model) && model[i].at.Before(cut) {
					i++
				}
				model = model[i:]
				if left := log.dropBefore(cut); left != (len(model) > 0) {
					t.Fatalf("run %d step %d: dropBefore reports %v with %d left", run, step, left, len(model))
				}
			}
			got := log.settles()
			if len(got) != len(model) {
				t.Fatalf("run %d step %d: %d settles, want %d", run, step, len(got), len(model))
			}
			for i := range got {
				if got[i].id != model[i].id || got[i].actual != model[i].actual || !got[i].at.Equal(model[i].at) {
					t.Fatalf("run %d step %d: settle %d = %+v, want %+v", run, step, i, got[i], model[i])
				}
			}
		}
	}
}

// TestLedgerSnapshotAndPrune: the ledger keeps each counter's settles since
// the cut, forgets counters whose settles are all older, and a settle drops
// the request's open hold.
func TestLedgerSnapshotAndPrune(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	l := newLedger()
	l.hold("k1", "", "r1", 5, t0.Add(time.Minute), func(string) {})
	l.settled("k1", "r1", 3, t0)
	l.settled("k1", "r2", 4, t0.Add(time.Second))
	l.settled("k2", "r3", 6, t0)

	ids, _, settles := l.snapshot("k1", t0.Add(time.Millisecond))
	if len(ids) != 0 || len(settles) != 1 || settles[0].id != "r2" || settles[0].actual != 4 || !settles[0].at.Equal(t0.Add(time.Second)) {
		t.Fatalf("snapshot: holds %v settles %+v, want none and r2's (4 at %v)", ids, settles, t0.Add(time.Second))
	}
	l.prune(t0.Add(time.Millisecond))
	if _, ok := l.recent["k2"]; ok {
		t.Fatal("k2's settles are all older than the cut, but the ledger keeps its log")
	}
	if _, _, s := l.snapshot("k1", t0); len(s) != 1 {
		t.Fatalf("k1 after prune: %+v, want its one later settle", s)
	}
}

// BenchmarkLedgerGC reports how long a full GC takes with a busy budget's
// recent settles in the ledger (120k: 2 min at 1,000 req/s) against an
// empty heap: the settles' share of every GC cycle's marking.
func BenchmarkLedgerGC(b *testing.B) {
	for _, n := range []int{0, 120_000} {
		b.Run(fmt.Sprintf("settles=%d", n), func(b *testing.B) {
			l := newLedger()
			now := time.Now()
			for range n {
				l.settled("gw:budget:user:alice:2026-11", reqscope.NewID(now), 1000, now)
			}
			runtime.GC()
			for b.Loop() {
				runtime.GC()
			}
			runtime.KeepAlive(l)
		})
	}
}
