package budget

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher sends the hot scripts (reserve, settle, release) of concurrent
// requests to Redis together: each worker takes every op queued while its
// previous batch was in flight and runs them as one batchScript (one command,
// one write and one read). Every op is still its own script body, atomic and
// with the same replies, and each request still waits for exactly one round
// trip; what the requests share is the Lua call, the command parsing and the
// syscalls on both sides, which cost far more than the ops themselves (on the
// 2-core test machine a lone EVALSHA round trip costs the client ~20 µs of CPU
// and Redis ~25 µs, a reserve body ~6 µs). Under light load a batch holds one
// op and adds only a channel hop.
//
// A batcher with a linger waits that long after the first op of a batch for
// more: for settles, which no client waits for (the proxy settles after the
// response), so that even at moderate rates they share round trips.
type batcher struct {
	c      redis.UniversalClient
	q      chan *batchOp
	stop   chan struct{}
	done   chan struct{}
	m      *Metrics
	linger time.Duration
}

// batchOp is one script run waiting in the queue.
type batchOp struct {
	ctx   context.Context
	name  string // reserve | settle | release
	keys  []string
	args  []any
	start time.Time
	reply []any
	err   error
	done  chan struct{}
}

// maxBatch bounds one batch so that no script blocks Redis for long (an op
// runs in a few µs).
const maxBatch = 128

var errBatcherClosed = errors.New("budget: reserver closed")

// newBatcher starts workers workers: how many batches may be in flight at
// once.
func newBatcher(c redis.UniversalClient, m *Metrics, workers int, linger time.Duration) *batcher {
	b := &batcher{c: c, q: make(chan *batchOp, 4*maxBatch), stop: make(chan struct{}), done: make(chan struct{}), m: m, linger: linger}
	go func() {
		defer close(b.done)
		finished := make(chan struct{})
		for range workers {
			go func() { b.work(); finished <- struct{}{} }()
		}
		for range workers {
			<-finished
		}
	}()
	return b
}

// close stops the workers after the ops already queued have run.
func (b *batcher) close() {
	close(b.stop)
	<-b.done
}

// run queues one op and waits for its reply. If ctx ends first, run returns
// ctx.Err() and the op may still run (as a lost reply would): callers treat it
// like any failed round trip.
func (b *batcher) run(ctx context.Context, name string, keys []string, args []any) ([]any, error) {
	op := &batchOp{ctx: ctx, name: name, keys: keys, args: args, start: time.Now(), done: make(chan struct{})}
	select {
	case b.q <- op:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.stop:
		return nil, errBatcherClosed
	}
	select {
	case <-op.done:
		return op.reply, op.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *batcher) work() {
	batch := make([]*batchOp, 0, maxBatch)
	var timer *time.Timer
	if b.linger > 0 {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
	}
	for {
		var first *batchOp
		select {
		case first = <-b.q:
		case <-b.stop:
			// Drain what was queued before the stop, then leave.
			select {
			case first = <-b.q:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
		if timer != nil {
			timer.Reset(b.linger)
		linger:
			for len(batch) < maxBatch {
				select {
				case op := <-b.q:
					batch = append(batch, op)
				case <-timer.C:
					break linger
				case <-b.stop:
					break linger
				}
			}
			timer.Stop()
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case op := <-b.q:
				batch = append(batch, op)
			default:
				break gather
			}
		}
		b.exec(batch)
	}
}

// exec runs one batch and hands every op its reply.
func (b *batcher) exec(batch []*batchOp) {
	live := batch[:0:0]
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.err = err // its caller is gone: do not run it
			close(op.done)
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 {
		return
	}
	nk, na := 0, 1
	for _, op := range live {
		nk += len(op.keys)
		na += 3 + len(op.args)
	}
	keys := make([]string, 0, nk)
	args := make([]any, 0, na)
	args = append(args, len(live))
	for _, op := range live {
		keys = append(keys, op.keys...)
		args = append(args, op.name, len(op.keys), len(op.args))
		args = append(args, op.args...)
	}
	// The ops' own contexts only decide whether they run; the batch is bounded
	// by the client's read and write timeouts.
	v, err := batchScript.Run(context.Background(), b.c, keys, args...).Slice()
	if err == nil && len(v) != len(live) {
		err = fmt.Errorf("budget: batch of %d ops got %d replies", len(live), len(v))
	}
	for i, op := range live {
		if err != nil {
			op.err = err
		} else {
			op.reply, op.err = opReply(v[i])
		}
		b.m.script(op.name, op.start)
		close(op.done)
	}
}

// opReply unpacks one op's reply; {-1, message} is an error raised by its body.
func opReply(v any) ([]any, error) {
	arr, ok := v.([]any)
	if !ok {
		return []any{v}, nil
	}
	if num(arr, 0) == -1 {
		return nil, fmt.Errorf("budget: script error: %s", str(arr, 1))
	}
	return arr, nil
}
