package upstream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchPool is n endpoints in two priority groups (the first nearly all of
// them), with latency measurements, limits and some usage.
func benchPool(n int) *Pool {
	r := rand.New(rand.NewPCG(1, 1))
	specs := make([]spec, n)
	for i := range specs {
		specs[i] = spec{
			id: int64(i + 1), prio: 1, weight: 1 + i%4, inflight: int64(r.IntN(5)),
			ttft: time.Duration(50+r.IntN(500)) * time.Millisecond, perTok: time.Duration(5+r.IntN(30)) * time.Millisecond,
			rpmLim: 1000, tpmLim: 1e6, rpm: int64(r.IntN(900)), tpm: int64(r.IntN(900000)),
		}
		if i == n-1 && n > 1 {
			specs[i].prio = 2
		}
	}
	return build(specs)
}

// BenchmarkSelect is the selection cost per request of every strategy with 2
// and 50 endpoints (no failover: tried is empty).
func BenchmarkSelect(b *testing.B) {
	for _, n := range []int{2, 50} {
		p := benchPool(n)
		req := Request{Now: selNow(), Tokens: 500}
		for name, mk := range allSelectors() {
			sel := mk(nil)
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := sel.Choose(p, nil, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRouterNext is a whole attempt on one replica: select, take the
// breaker slot, admit against the local limits, count in flight, release.
func BenchmarkRouterNext(b *testing.B) {
	for _, n := range []int{2, 50} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			p := benchPool(n)
			for _, e := range p.Endpoints {
				e.Config.RPMLimit, e.Config.TPMLimit = 0, 0 // never refused, whatever b.N
			}
			r := NewRouter(RouterOptions{Clock: selNow})
			ctx := context.Background()
			out := Outcome{Status: 200, TTFT: 100 * time.Millisecond, PerToken: 10 * time.Millisecond, Tokens: 500}
			b.ReportAllocs()
			for b.Loop() {
				_, rel, err := r.Next(ctx, p, nil, Request{Now: selNow(), Tokens: 500})
				if err != nil {
					b.Fatal(err)
				}
				rel(out)
			}
		})
	}
}
