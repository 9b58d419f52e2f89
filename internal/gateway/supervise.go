package gateway

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

// Pauses before a background loop that panicked starts again.
const (
	restartPause    = time.Second
	restartPauseMax = time.Minute
)

// supervise runs loop until it returns (its ctx has ended). A panic in it, a
// bug, is logged with its stack and counted, and the loop starts again after
// a pause that doubles up to restartPauseMax: a bad reload must not take the
// process down, and with it the usage rows still queued.
func (g *Gateway) supervise(ctx context.Context, name string, loop func(context.Context)) {
	pause := restartPause
	for {
		p, stack := runRecovering(ctx, loop)
		if p == nil {
			return
		}
		g.log.Error("background loop panicked; restarting it", "loop", name,
			"panic", fmt.Sprint(p), "stack", string(stack), "restart_in", pause)
		if g.Metrics != nil {
			g.Metrics.BackgroundPanics.WithLabelValues(name).Inc()
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, restartPauseMax)
	}
}

// runRecovering runs loop and returns what it panicked with, if it did, and
// the stack of the panic.
func runRecovering(ctx context.Context, loop func(context.Context)) (p any, stack []byte) {
	defer func() {
		if p = recover(); p != nil {
			stack = debug.Stack()
		}
	}()
	loop(ctx)
	return nil, nil
}
