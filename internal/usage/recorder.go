package usage

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

// Writer is where usage rows go; store.Store satisfies it. InsertUsage must be
// idempotent per RequestID (a retried batch never double-counts) and must not
// keep the slice after it returns.
type Writer interface {
	InsertUsage(ctx context.Context, rows []store.UsageRecord) error
	EnsureUsagePartitions(ctx context.Context, months ...time.Time) error
}

// RecorderOptions tunes a Recorder; zero fields take the defaults.
type RecorderOptions struct {
	// BatchSize is the most rows written at once, and the number of pending rows
	// that triggers a write before FlushInterval (default 500).
	BatchSize int
	// FlushInterval is how long a row waits at most before a write is attempted
	// (default 200ms).
	FlushInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed writes, which
	// doubles from MinBackoff up to MaxBackoff (defaults 100ms and 5s).
	MinBackoff, MaxBackoff time.Duration
	// WriteTimeout bounds one write attempt (default 30s).
	WriteTimeout time.Duration
	// Log receives write failures (default slog.Default()).
	Log *slog.Logger
	// OnFlush, if set, is called after every write attempt with the number of
	// rows in the batch and the attempt's error (nil on success), for metrics. It
	// runs on the writing goroutine and must be quick.
	OnFlush func(n int, err error)
}

func (o RecorderOptions) normalized() RecorderOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// Recorder batches usage rows off the hot path. Record queues a row; Run writes
// the queue in batches of at most BatchSize, in the order rows were recorded, when
// a batch is full or FlushInterval has passed. A failed write keeps its rows and
// is retried, first, with exponential backoff, while new rows keep queueing: no
// row is ever dropped (memory grows while the database is down; watch Pending).
// Close stops Run and writes what is left.
type Recorder struct {
	w Writer
	o RecorderOptions

	mu      sync.Mutex
	chunks  [][]store.UsageRecord // queued rows; every chunk but the last is full
	queued  int                   // rows in chunks
	held    int                   // rows taken by the writer and not yet written
	runDone chan struct{}         // closed when Run returns; nil before Run

	wake     chan struct{} // a full batch is queued (capacity 1)
	stop     chan struct{} // closed by Close
	stopOnce sync.Once

	// writing is a one-slot semaphore: its holder (Run or Close) is the only one
	// writing, and owns batch and months.
	writing chan struct{}
	batch   []store.UsageRecord // taken from the queue, not yet written
	months  map[int]struct{}    // year*12+month of the partitions ensured
}

// NewRecorder returns a Recorder writing to w. Start its Run loop.
func NewRecorder(w Writer, o RecorderOptions) *Recorder {
	return &Recorder{
		w:       w,
		o:       o.normalized(),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		writing: make(chan struct{}, 1),
		months:  make(map[int]struct{}),
	}
}

// Record queues one row. It never blocks on the database and never drops: rows
// recorded after Close stay queued until Close is called again.
func (r *Recorder) Record(rec store.UsageRecord) {
	r.mu.Lock()
	n := len(r.chunks)
	if n == 0 || len(r.chunks[n-1]) >= r.o.BatchSize {
		r.chunks = append(r.chunks, make([]store.UsageRecord, 0, min(r.o.BatchSize, 64)))
		n++
	}
	r.chunks[n-1] = append(r.chunks[n-1], rec)
	r.queued++
	full := len(r.chunks[n-1]) == r.o.BatchSize
	r.mu.Unlock()
	if full {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Pending returns the number of rows recorded and not yet written.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queued + r.held
}

// Run writes queued rows until ctx ends or Close is called; rows still queued
// then are written by Close. Call it once, typically as `go rec.Run(ctx)`.
func (r *Recorder) Run(ctx context.Context) {
	r.mu.Lock()
	if r.runDone != nil {
		r.mu.Unlock()
		r.o.Log.Error("usage recorder: Run called twice")
		return
	}
	done := make(chan struct{})
	r.runDone = done
	r.mu.Unlock()
	defer close(done)

	timer := time.NewTimer(r.o.FlushInterval)
	defer timer.Stop()
	var backoff time.Duration
	for {
		wake := r.wake
		if backoff > 0 {
			wake = nil // after a failure, wait out the backoff whatever queues up
		}
		all := true
		select {
		case <-ctx.Done():
			return
		case <-r.stop:
			return
		case <-wake:
			all = false // write the full batches; the rest waits for the timer
		case <-timer.C:
		}
		select {
		case r.writing <- struct{}{}:
		case <-ctx.Done():
			return
		case <-r.stop:
			return
		}
		err := r.drain(ctx, all)
		<-r.writing
		switch {
		case err == nil:
			// After a size-triggered write the interval timer keeps its schedule,
			// so the partial batch behind still waits at most FlushInterval.
			if all {
				backoff = 0
				timer.Reset(r.o.FlushInterval)
			}
		case ctx.Err() != nil:
			return
		default:
			backoff = r.nextBackoff(backoff)
			r.o.Log.Warn("usage recorder: write failed; will retry",
				"err", err, "pending", r.Pending(), "retry_in", backoff)
			timer.Reset(backoff)
		}
	}
}

// Close stops Run, waits for it, then writes every row left, retrying failed
// writes with backoff until they succeed or ctx ends. If ctx ends first it returns
// an error saying how many rows were not written; they stay queued, so Close may
// be called again. Rows recorded while Close runs are written too.
func (r *Recorder) Close(ctx context.Context) error {
	r.stopOnce.Do(func() { close(r.stop) })
	r.mu.Lock()
	done := r.runDone
	r.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return r.notWritten(ctx.Err(), nil)
		}
	}
	select {
	case r.writing <- struct{}{}:
	case <-ctx.Done():
		return r.notWritten(ctx.Err(), nil)
	}
	defer func() { <-r.writing }()

	var backoff time.Duration
	for {
		err := r.drain(ctx, true)
		if err == nil && r.Pending() == 0 {
			return nil
		}
		if err == nil {
			continue // rows recorded while closing
		}
		if ctx.Err() != nil {
			return r.notWritten(ctx.Err(), err)
		}
		backoff = r.nextBackoff(backoff)
		r.o.Log.Warn("usage recorder: write failed while closing; will retry",
			"err", err, "pending", r.Pending(), "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return r.notWritten(ctx.Err(), err)
		}
	}
}

func (r *Recorder) notWritten(ctxErr, lastErr error) error {
	n := r.Pending()
	if n == 0 {
		return nil
	}
	if lastErr != nil {
		return fmt.Errorf("usage recorder: %d rows not written: %w (last write error: %w)", n, ctxErr, lastErr)
	}
	return fmt.Errorf("usage recorder: %d rows not written: %w", n, ctxErr)
}

func (r *Recorder) nextBackoff(b time.Duration) time.Duration {
	if b <= 0 {
		return r.o.MinBackoff
	}
	return min(2*b, r.o.MaxBackoff)
}

// drain writes queued rows batch by batch, oldest first, until the rows queued
// when it started are written (only full batches are taken unless all) or a
// write fails; a failed batch is kept and retried first next time. Rows that
// arrive during the writes wait for the next flush, so a steady trickle is
// written once per interval instead of in back-to-back tiny batches. The
// caller holds r.writing.
func (r *Recorder) drain(ctx context.Context, all bool) error {
	r.mu.Lock()
	left := r.queued
	r.mu.Unlock()
	if r.batch != nil {
		left += len(r.batch)
	}
	for left > 0 {
		if r.batch == nil {
			r.batch = r.take(all)
			if r.batch == nil {
				return nil
			}
		}
		left -= len(r.batch)
		if err := r.write(ctx, r.batch); err != nil {
			return err
		}
		r.mu.Lock()
		r.held = 0
		r.mu.Unlock()
		r.batch = nil
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// take removes the oldest chunk from the queue (a partial one only if all).
func (r *Recorder) take(all bool) []store.UsageRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.chunks) == 0 {
		return nil
	}
	c := r.chunks[0]
	if len(r.chunks) == 1 {
		if !all && len(c) < r.o.BatchSize {
			return nil
		}
		r.chunks = r.chunks[:0]
	} else {
		r.chunks[0] = nil
		r.chunks = r.chunks[1:]
	}
	r.queued -= len(c)
	r.held = len(c)
	return c
}

// write ensures the partitions of batch's months that were not ensured yet,
// then inserts it. A panic in the writer (a bug) comes back as a failed
// write: the batch stays queued for the retry, where a crash would lose every
// queued row, and Run and Close keep taking turns at writing.
func (r *Recorder) write(ctx context.Context, batch []store.UsageRecord) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("usage writer panicked: %v\n%s", p, debug.Stack())
			r.onFlush(len(batch), err)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, r.o.WriteTimeout)
	defer cancel()
	if months := r.newMonths(batch); len(months) > 0 {
		if err := r.w.EnsureUsagePartitions(ctx, months...); err != nil {
			r.onFlush(len(batch), err)
			return fmt.Errorf("ensure usage partitions: %w", err)
		}
		for _, m := range months {
			r.months[monthKey(m)] = struct{}{}
		}
	}
	err = r.w.InsertUsage(ctx, batch)
	r.onFlush(len(batch), err)
	if err != nil {
		return fmt.Errorf("insert %d usage rows: %w", len(batch), err)
	}
	return nil
}

func (r *Recorder) onFlush(n int, err error) {
	if r.o.OnFlush != nil {
		r.o.OnFlush(n, err)
	}
}

// newMonths returns the first instants (UTC) of the months of batch's rows whose
// partitions were not ensured yet, in order of first appearance.
func (r *Recorder) newMonths(batch []store.UsageRecord) []time.Time {
	var out []time.Time
	for i := range batch {
		t := batch[i].CreatedAt.UTC()
		k := monthKey(t)
		if _, ok := r.months[k]; ok {
			continue
		}
		seen := false
		for _, m := range out {
			if monthKey(m) == k {
				seen = true
				break
			}
		}
		if !seen {
			out = append(out, time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC))
		}
	}
	return out
}

func monthKey(t time.Time) int { return t.Year()*12 + int(t.Month()) - 1 }
