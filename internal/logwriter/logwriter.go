// Package logwriter buffers the process log (the JSON lines of log/slog) so
// that a request's access-log line costs a memory copy, not a write system
// call: at 1,000 requests/s an unbuffered log is 1,000 writes a second, each
// a few µs of CPU, and a write to a slow pipe (a container runtime's log
// reader) would block the request that logs. Lines are written out when the
// buffer fills, every flush interval, and at Close; a line at level warning or
// above is written out at once, so errors are never held back.
package logwriter

import (
	"bufio"
	"bytes"
	"io"
	"sync"
	"time"
)

// Writer is a buffered, periodically flushed io.Writer, safe for concurrent
// use. Each Write must be whole lines (slog handlers write one record per
// call).
type Writer struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	err  error // the first write error, kept for Close
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New buffers w (size bytes; <= 0: 64 KiB) and flushes it every interval
// (<= 0: 100ms) until Close.
func New(w io.Writer, size int, interval time.Duration) *Writer {
	if size <= 0 {
		size = 64 << 10
	}
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	lw := &Writer{buf: bufio.NewWriterSize(w, size), stop: make(chan struct{}), done: make(chan struct{})}
	go lw.loop(interval)
	return lw
}

// urgent reports whether a JSON log line is at level WARN or ERROR.
func urgent(p []byte) bool {
	return bytes.Contains(p, []byte(`"level":"WARN`)) || bytes.Contains(p, []byte(`"level":"ERROR`))
}

// Write buffers p (writing it out at once when urgent).
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if err == nil && urgent(p) {
		err = w.buf.Flush()
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Flush()
}

func (w *Writer) loop(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = w.Flush()
		case <-w.stop:
			return
		}
	}
}

// Close stops the periodic flush and writes out what is buffered. Writes
// after Close still work (they are buffered until the next Flush), so a late
// log line is never a panic.
func (w *Writer) Close() error {
	w.once.Do(func() {
		close(w.stop)
		<-w.done
	})
	if err := w.Flush(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
