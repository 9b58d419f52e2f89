// Package logwriter buffers the process log (the JSON lines of log/slog) so
// that a request's access-log line costs a memory copy, not a write system
// call: at 1,000 requests/s an unbuffered log is 1,000 writes a second, each
// a few µs of CPU. Lines are written out by one goroutine: every flush
// interval, as soon as the buffer holds size bytes, at once after a line at
// level warning or above (errors are never held back), and at Close.
//
// A logging goroutine never waits for the output: the writer swaps the
// buffer under its lock and writes it outside, so a slow file or pipe (a disk
// busy with a database checkpoint, a container runtime's log reader) delays
// the log, not the requests. Only when the output falls behind by maxPending
// bytes do loggers wait (memory stays bounded; no line is dropped).
package logwriter

import (
	"bytes"
	"io"
	"sync"
	"time"
)

// maxPending bounds the lines waiting while the output is slow; beyond it
// Write waits for the output.
const maxPending = 8 << 20

// Writer is a buffered io.Writer flushed by its own goroutine, safe for
// concurrent use. Each Write must be whole lines (slog handlers write one
// record per call).
type Writer struct {
	out  io.Writer
	size int

	mu      sync.Mutex
	closed  bool       // no flusher any more: Write does not wait
	pending []byte     // lines not yet handed to out
	drained *sync.Cond // signalled when pending is taken
	err     error      // the first write error, kept for Close

	wmu   sync.Mutex // one write to out at a time, in order
	spare []byte     // the buffer last written out, reused (guarded by wmu)

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New buffers w (flushing at size bytes; <= 0: 64 KiB) and flushes it every
// interval (<= 0: 100ms) until Close.
func New(w io.Writer, size int, interval time.Duration) *Writer {
	if size <= 0 {
		size = 64 << 10
	}
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	lw := &Writer{out: w, size: size, pending: make([]byte, 0, size), kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	lw.drained = sync.NewCond(&lw.mu)
	go lw.loop(interval)
	return lw
}

// urgent reports whether a JSON log line is at level WARN or ERROR.
func urgent(p []byte) bool {
	return bytes.Contains(p, []byte(`"level":"WARN`)) || bytes.Contains(p, []byte(`"level":"ERROR`))
}

// Write buffers p; the flusher writes it out soon (at once when urgent).
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	for !w.closed && len(w.pending) > 0 && len(w.pending)+len(p) > maxPending {
		w.wake()
		w.drained.Wait()
	}
	w.pending = append(w.pending, p...)
	full := len(w.pending) >= w.size
	w.mu.Unlock()
	if full || urgent(p) {
		w.wake()
	}
	return len(p), nil
}

func (w *Writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Flush writes out what is buffered and returns the first write error so far.
func (w *Writer) Flush() error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	b := w.pending
	w.pending = w.spare[:0]
	w.drained.Broadcast()
	w.mu.Unlock()
	var err error
	if len(b) > 0 {
		_, err = w.out.Write(b)
	}
	if cap(b) <= 2*w.size {
		w.spare = b
	} else {
		w.spare = nil // a burst: do not keep its buffer
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil && w.err == nil {
		w.err = err
	}
	return w.err
}

func (w *Writer) loop(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-w.kick:
		case <-w.stop:
			return
		}
		_ = w.Flush()
	}
}

// Close stops the flusher and writes out what is buffered; it returns the
// first write error. Writes after Close still work (they are buffered until
// the next Flush), so a late log line is never a panic.
func (w *Writer) Close() error {
	w.once.Do(func() {
		close(w.stop)
		<-w.done
		w.mu.Lock()
		w.closed = true
		w.drained.Broadcast()
		w.mu.Unlock()
	})
	return w.Flush()
}
