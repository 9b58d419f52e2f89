package usage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

var errDown = errors.New("database is down")

// fakeWriter is an idempotent Writer (rows are keyed by RequestID, like the
// store) that can fail, lose its replies, or be slow.
type fakeWriter struct {
	mu sync.Mutex
	// failInserts makes the next N InsertUsage calls fail without writing.
	failInserts int
	// loseReplies makes the next N InsertUsage calls write, then fail (an
	// ambiguous failure: committed, but the caller hears an error).
	loseReplies int
	// failEnsures makes the next N EnsureUsagePartitions calls fail.
	failEnsures int
	// panics makes the next N InsertUsage calls panic without writing.
	panics int
	// down makes every InsertUsage call fail.
	down bool
	// delay is how long each InsertUsage takes.
	delay time.Duration
	start time.Time

	batches  [][]string      // request ids of each successful InsertUsage
	attempts []time.Duration // time since start of every InsertUsage call
	ensured  [][]time.Time
	stored   map[string]int // request id -> times stored
	order    []string       // request ids in the order they were first stored
}

func newFakeWriter() *fakeWriter {
	return &fakeWriter{start: time.Now(), stored: make(map[string]int)}
}

func (f *fakeWriter) InsertUsage(ctx context.Context, rows []store.UsageRecord) error {
	f.mu.Lock()
	f.attempts = append(f.attempts, time.Since(f.start))
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	if f.failInserts > 0 {
		f.failInserts--
		return errDown
	}
	if f.panics > 0 {
		f.panics--
		panic("store bug")
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.RequestID
		if f.stored[r.RequestID] == 0 {
			f.order = append(f.order, r.RequestID)
		}
		f.stored[r.RequestID] = 1 // idempotent: a second insert is skipped
	}
	f.batches = append(f.batches, ids)
	if f.loseReplies > 0 {
		f.loseReplies--
		return errors.New("connection reset after commit")
	}
	return nil
}

func (f *fakeWriter) EnsureUsagePartitions(ctx context.Context, months ...time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failEnsures > 0 {
		f.failEnsures--
		return errDown
	}
	f.ensured = append(f.ensured, append([]time.Time(nil), months...))
	return nil
}

func (f *fakeWriter) snapshot() (batches [][]string, attempts []time.Duration, order []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.batches...), append([]time.Duration(nil), f.attempts...), append([]string(nil), f.order...)
}

var jan = time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)

func row(id string) store.UsageRecord {
	return store.UsageRecord{RequestID: id, CreatedAt: jan, Model: "gpt-4o", Status: 200}
}

func ids(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startRun runs r.Run in the background and returns a stop function that
// cancels it and waits for it.
func startRun(r *Recorder) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func TestRecorderSizeTriggeredFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter()
		r := NewRecorder(w, RecorderOptions{BatchSize: 3, FlushInterval: time.Hour, Log: quiet()})
		defer startRun(r)()
		for _, id := range ids("r", 0, 7) {
			r.Record(row(id))
		}
		synctest.Wait()
		batches, attempts, _ := w.snapshot()
		want := [][]string{{"r0", "r1", "r2"}, {"r3", "r4", "r5"}}
		if !reflect.DeepEqual(batches, want) {
			t.Errorf("batches = %v, want %v", batches, want)
		}
		if !reflect.DeepEqual(attempts, []time.Duration{0, 0}) {
			t.Errorf("attempts at %v, want both at 0 (no waiting for the interval)", attempts)
		}
		if got := r.Pending(); got != 1 {
			t.Errorf("Pending = %d, want 1", got)
		}
	})
}

func TestRecorderIntervalTriggeredFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter()
		r := NewRecorder(w, RecorderOptions{BatchSize: 100, FlushInterval: 200 * time.Millisecond, Log: quiet()})
		defer startRun(r)()
		r.Record(row("a"))
		r.Record(row("b"))
		time.Sleep(199 * time.Millisecond)
		synctest.Wait()
		if batches, _, _ := w.snapshot(); len(batches) != 0 {
			t.Fatalf("wrote %v before the interval", batches)
		}
		if got := r.Pending(); got != 2 {
			t.Errorf("Pending before the interval = %d, want 2", got)
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		batches, attempts, _ := w.snapshot()
		if want := [][]string{{"a", "b"}}; !reflect.DeepEqual(batches, want) {
			t.Errorf("batches = %v, want %v", batches, want)
		}
		if want := []time.Duration{200 * time.Millisecond}; !reflect.DeepEqual(attempts, want) {
			t.Errorf("attempts at %v, want %v", attempts, want)
		}
		if got := r.Pending(); got != 0 {
			t.Errorf("Pending = %d, want 0", got)
		}
		// The next row waits a whole interval again.
		r.Record(row("c"))
		time.Sleep(201 * time.Millisecond)
		synctest.Wait()
		if batches, _, _ := w.snapshot(); !reflect.DeepEqual(batches, [][]string{{"a", "b"}, {"c"}}) {
			t.Errorf("batches = %v", batches)
		}
	})
}

func TestRecorderRetryKeepsEveryRowOnceInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter()
		w.failInserts = 3
		var hooks []string
		var hooksMu sync.Mutex
		r := NewRecorder(w, RecorderOptions{
			BatchSize: 2, FlushInterval: time.Hour, MinBackoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
			Log: quiet(),
			OnFlush: func(n int, err error) {
				hooksMu.Lock()
				defer hooksMu.Unlock()
				hooks = append(hooks, fmt.Sprintf("%d:%v", n, err))
			},
		})
		defer startRun(r)()
		for _, id := range ids("r", 0, 5) {
			r.Record(row(id))
		}
		// While the writer is failing, new rows keep queueing behind.
		time.Sleep(150 * time.Millisecond)
		r.Record(row("r5"))
		time.Sleep(time.Second)
		synctest.Wait()

		batches, attempts, order := w.snapshot()
		// Failures at 0, then backoffs of 100, 200, 300 (capped) ms.
		wantAttempts := []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond,
			600 * time.Millisecond, 600 * time.Millisecond}
		if !reflect.DeepEqual(attempts, wantAttempts) {
			t.Errorf("attempts at %v, want %v", attempts, wantAttempts)
		}
		if want := [][]string{{"r0", "r1"}, {"r2", "r3"}, {"r4", "r5"}}; !reflect.DeepEqual(batches, want) {
			t.Errorf("batches = %v, want %v", batches, want)
		}
		if want := ids("r", 0, 6); !reflect.DeepEqual(order, want) {
			t.Errorf("stored order = %v, want %v", order, want)
		}
		wantHooks := []string{
			"2:database is down", "2:database is down", "2:database is down",
			"2:<nil>", "2:<nil>", "2:<nil>",
		}
		hooksMu.Lock()
		defer hooksMu.Unlock()
		if !reflect.DeepEqual(hooks, wantHooks) {
			t.Errorf("OnFlush calls = %q, want %q", hooks, wantHooks)
		}
		if got := r.Pending(); got != 0 {
			t.Errorf("Pending = %d, want 0", got)
		}
	})
}

func TestRecorderAmbiguousFailureNeverDoubleCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter()
		w.loseReplies = 2
		r := NewRecorder(w, RecorderOptions{BatchSize: 2, FlushInterval: 50 * time.Millisecond, Log: quiet()})
		defer startRun(r)()
		for _, id := range ids("r", 0, 4) {
			r.Record(row(id))
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		batches, _, order := w.snapshot()
		// The first batch is sent three times (two lost replies), then the second once.
		want := [][]string{{"r0", "r1"}, {"r0", "r1"}, {"r0", "r1"}, {"r2", "r3"}}
		if !reflect.DeepEqual(batches, want) {
			t.Errorf("batches = %v, want %v", batches, want)
		}
		if !reflect.DeepEqual(order, ids("r", 0, 4)) {
			t.Errorf("stored = %v", order)
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		for id, n := range w.stored {
			if n != 1 {
				t.Errorf("%s stored %d times", id, n)
			}
		}
	})
}

func TestRecorderEnsuresEachMonthOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter()
		w.failEnsures = 1
		r := NewRecorder(w, RecorderOptions{BatchSize: 3, FlushInterval: time.Hour, MinBackoff: 10 * time.Millisecond, Log: quiet()})
		defer startRun(r)()
		paris := time.FixedZone("CET", 3600)
		at := []time.Time{
			jan,
			time.Date(2025, 2, 1, 0, 30, 0, 0, paris), // still January in UTC
			time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC),
			jan, // second batch: January again
			time.Date(2025, 3, 9, 0, 0, 0, 0, time.UTC),
			time.Date(2025, 2, 9, 0, 0, 0, 0, time.UTC),
		}
		for i, ts := range at {
			rec := row(fmt.Sprint("r", i))
			rec.CreatedAt = ts
			r.Record(rec)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		month := func(m time.Month) time.Time { return time.Date(2025, m, 1, 0, 0, 0, 0, time.UTC) }
		w.mu.Lock()
		defer w.mu.Unlock()
		want := [][]time.Time{{month(1), month(2)}, {month(3)}}
		if !reflect.DeepEqual(w.ensured, want) {
			t.Errorf("ensured %v, want %v", w.ensured, want)
		}
		// The failed ensure kept the batch from being inserted; the retry wrote it.
		if want := [][]string{{"r0", "r1", "r2"}, {"r3", "r4", "r5"}}; !reflect.DeepEqual(w.batches, want) {
			t.Errorf("batches = %v, want %v", w.batches, want)
		}
		if want := []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}; !reflect.DeepEqual(w.attempts, want) {
			t.Errorf("inserts at %v, want %v", w.attempts, want)
		}
	})
}

func TestRecorderCloseFlushes(t *testing.T) {
	tests := []struct {
		name    string
		run     bool
		rows    int
		batches []int
	}{
		{"without Run", false, 1201, []int{500, 500, 201}},
		{"with Run", true, 7, []int{7}},
		{"nothing", true, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newFakeWriter()
				r := NewRecorder(w, RecorderOptions{FlushInterval: time.Hour, Log: quiet()})
				runDone := make(chan struct{})
				if tt.run {
					go func() { r.Run(context.Background()); close(runDone) }()
					synctest.Wait() // Run is waiting for work
				}
				for _, id := range ids("r", 0, tt.rows) {
					r.Record(row(id))
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				if err := r.Close(ctx); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if tt.run {
					select {
					case <-runDone:
					default:
						t.Error("Run still running after Close")
					}
				}
				batches, _, order := w.snapshot()
				var sizes []int
				for _, b := range batches {
					sizes = append(sizes, len(b))
				}
				if !reflect.DeepEqual(sizes, tt.batches) {
					t.Errorf("batch sizes = %v, want %v", sizes, tt.batches)
				}
				if len(order) != tt.rows || (tt.rows > 0 && order[tt.rows-1] != fmt.Sprint("r", tt.rows-1)) {
					t.Errorf("stored %d rows, want %d in order", len(order), tt.rows)
				}
				if got := r.Pending(); got != 0 {
					t.Errorf("Pending = %d, want 0", got)
				}
			})
		})
	}
}

func TestRecorderCloseRetriesUntilWriterRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter()
		w.failInserts = 4
		r := NewRecorder(w, RecorderOptions{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Log: quiet()})
		r.Record(row("a"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		_, attempts, order := w.snapshot()
		want := []time.Duration{0, 50 * time.Millisecond, 150 * time.Millisecond, 350 * time.Millisecond, 750 * time.Millisecond}
		if !reflect.DeepEqual(attempts, want) {
			t.Errorf("attempts at %v, want %v", attempts, want)
		}
		if !reflect.DeepEqual(order, []string{"a"}) {
			t.Errorf("stored %v", order)
		}
	})
}

// A store that panics is a bug, but it must not take the queued rows with
// it: the panic becomes a failed write, the batch stays queued and is retried,
// and Run and Close still take turns writing.
func TestRecorderWriterPanicKeepsRows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter()
		w.panics = 2
		var flushErrs []error
		r := NewRecorder(w, RecorderOptions{BatchSize: 2, FlushInterval: 100 * time.Millisecond,
			MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Log: quiet(),
			OnFlush: func(n int, err error) { flushErrs = append(flushErrs, err) }})
		stop := startRun(r)
		for _, id := range ids("r", 0, 3) {
			r.Record(row(id))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		stop()
		r.Record(row("late"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Fatalf("Close after panics: %v", err)
		}
		_, attempts, order := w.snapshot()
		if want := append(ids("r", 0, 3), "late"); !reflect.DeepEqual(order, want) {
			t.Errorf("stored %v, want %v", order, want)
		}
		if len(attempts) < 4 {
			t.Errorf("%d insert attempts, want the two that panicked retried", len(attempts))
		}
		if len(flushErrs) < 2 || flushErrs[0] == nil || !strings.Contains(flushErrs[0].Error(), "store bug") {
			t.Errorf("flush errors %v, want the panics reported as failed writes", flushErrs)
		}
	})
}

func TestRecorderCloseWithWriterDownReportsRowsLeft(t *testing.T) {
	tests := []struct {
		name    string
		delay   time.Duration // each insert hangs this long
		wantErr string
	}{
		{"failing", 0, "usage recorder: 3 rows not written: context deadline exceeded (last write error: insert 3 usage rows: database is down)"},
		{"hanging", time.Hour, "usage recorder: 3 rows not written: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newFakeWriter()
				w.down = true
				w.delay = tt.delay
				r := NewRecorder(w, RecorderOptions{MinBackoff: 100 * time.Millisecond, Log: quiet()})
				for _, id := range ids("r", 0, 3) {
					r.Record(row(id))
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				err := r.Close(ctx)
				if err == nil {
					t.Fatal("Close succeeded with the writer down")
				}
				if !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Errorf("Close error = %q, want prefix %q", err, tt.wantErr)
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Close error %v is not DeadlineExceeded", err)
				}
				if got := r.Pending(); got != 3 {
					t.Errorf("Pending = %d, want 3", got)
				}
				// The rows are still there: once the writer is back, Close writes them.
				w.mu.Lock()
				w.down, w.delay = false, 0
				w.mu.Unlock()
				if err := r.Close(context.Background()); err != nil {
					t.Fatalf("second Close: %v", err)
				}
				if _, _, order := w.snapshot(); !reflect.DeepEqual(order, ids("r", 0, 3)) {
					t.Errorf("stored %v", order)
				}
			})
		})
	}
}

func TestRecorderConcurrentRecordLosesNothing(t *testing.T) {
	const goroutines, perG = 50, 400
	w := newFakeWriter()
	r := NewRecorder(w, RecorderOptions{BatchSize: 64, FlushInterval: time.Millisecond, Log: quiet()})
	stop := startRun(r)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				r.Record(row(fmt.Sprintf("g%d-%d", g, i)))
			}
		})
	}
	wg.Wait()
	stop()
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, _, order := w.snapshot()
	if len(order) != goroutines*perG {
		t.Fatalf("stored %d rows, want %d", len(order), goroutines*perG)
	}
	// Each goroutine's rows are stored in the order it recorded them.
	next := make([]int, goroutines)
	for _, id := range order {
		var g, i int
		if _, err := fmt.Sscanf(id, "g%d-%d", &g, &i); err != nil {
			t.Fatalf("bad id %q", id)
		}
		if i != next[g] {
			t.Fatalf("goroutine %d: row %d stored where %d was expected", g, i, next[g])
		}
		next[g]++
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.batches {
		if len(b) > 64 {
			t.Fatalf("batch of %d rows exceeds BatchSize 64", len(b))
		}
	}
}

func TestRecorderOptionsDefaults(t *testing.T) {
	o := RecorderOptions{}.normalized()
	got := []time.Duration{time.Duration(o.BatchSize), o.FlushInterval, o.MinBackoff, o.MaxBackoff, o.WriteTimeout}
	want := []time.Duration{500, 200 * time.Millisecond, 100 * time.Millisecond, 5 * time.Second, 30 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults = %v, want %v", got, want)
	}
	if o.Log == nil {
		t.Error("no default logger")
	}
	if got := (RecorderOptions{MinBackoff: time.Minute, MaxBackoff: time.Second}).normalized().MaxBackoff; got != time.Minute {
		t.Errorf("MaxBackoff below MinBackoff normalized to %v, want 1m", got)
	}
}

func TestRecorderSizeFlushKeepsIntervalSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter()
		r := NewRecorder(w, RecorderOptions{BatchSize: 2, FlushInterval: 200 * time.Millisecond, Log: quiet()})
		defer startRun(r)()
		r.Record(row("r0"))
		time.Sleep(150 * time.Millisecond)
		r.Record(row("r1"))
		r.Record(row("r2"))
		time.Sleep(time.Second)
		synctest.Wait()
		batches, attempts, _ := w.snapshot()
		if want := [][]string{{"r0", "r1"}, {"r2"}}; !reflect.DeepEqual(batches, want) {
			t.Errorf("batches = %v, want %v", batches, want)
		}
		// r2 goes out on the timer started at 0, not 200ms after the full batch.
		if want := []time.Duration{150 * time.Millisecond, 200 * time.Millisecond}; !reflect.DeepEqual(attempts, want) {
			t.Errorf("attempts at %v, want %v", attempts, want)
		}
	})
}
