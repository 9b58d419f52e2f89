package proxy

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/budget"
	"github.com/antigravity/gateway/internal/money"
)

// gatedRes is a deferrable reservation whose SettleDeferred waits for release.
type gatedRes struct {
	release chan struct{}
	settled chan money.Nanos
}

func (g *gatedRes) Settle(context.Context, money.Nanos) error {
	panic("a deferrable hold must be settled with SettleDeferred")
}
func (g *gatedRes) SettleDeferred(_ context.Context, actual money.Nanos) error {
	<-g.release
	g.settled <- actual
	return nil
}
func (g *gatedRes) Release(context.Context) error { return nil }

type gatedBudget struct{ res *gatedRes }

func (b gatedBudget) Reserve(context.Context, budget.Subject, string, money.Nanos) (budget.Reservation, error) {
	return b.res, nil
}

// TestRemoteSettleAfterResponse: a remote (Redis) hold is settled after the
// handler has answered, and the usage row is queued only once the settle is
// done, with exactly the settled cost; Pending counts the work meanwhile.
func TestRemoteSettleAfterResponse(t *testing.T) {
	res := &gatedRes{release: make(chan struct{}), settled: make(chan money.Nanos, 1)}
	var pending sync.WaitGroup
	mux, sink := newTestHandlerWith(t, func(d *Deps) { d.Budget = gatedBudget{res}; d.Pending = &pending })

	w := post(mux, "good", []byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`))
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	// The handler has returned while the settle is still blocked.
	time.Sleep(20 * time.Millisecond)
	if n := sink.count(); n != 0 {
		t.Fatalf("%d usage rows queued before the settle finished", n)
	}
	done := make(chan struct{})
	go func() { pending.Wait(); close(done) }()
	select {
	case <-done:
		t.Fatal("Pending did not count the deferred settle")
	case <-time.After(20 * time.Millisecond):
	}
	close(res.release)
	<-done
	if n := sink.count(); n != 1 {
		t.Fatalf("%d usage rows after the settle, want 1", n)
	}
	if got, row := <-res.settled, sink.rows[0]; got != row.Cost || row.Cost <= 0 {
		t.Fatalf("settled %d, row cost %d", got, row.Cost)
	}
}
