package billing

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestRetentionCutoff(t *testing.T) {
	now := time.Date(2026, 3, 15, 10, 0, 0, 0, time.FixedZone("JST", 9*3600))
	cases := []struct {
		months int
		want   time.Time
	}{
		{-1, time.Time{}},
		{0, time.Time{}},
		{1, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{3, time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)},
		{14, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		if got := RetentionCutoff(now, tc.months); !got.Equal(tc.want) {
			t.Errorf("RetentionCutoff(%d) = %v, want %v", tc.months, got, tc.want)
		}
	}
	// The UTC month decides: 2026-03-01 01:00 JST is still February in UTC.
	early := time.Date(2026, 3, 1, 1, 0, 0, 0, time.FixedZone("JST", 9*3600))
	if got := RetentionCutoff(early, 1); !got.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("cutoff %v", got)
	}
}

// fakeRetainer records the cutoffs it is asked for.
type fakeRetainer struct {
	mu    sync.Mutex
	calls []time.Time
	err   error
	done  chan struct{}
}

func (f *fakeRetainer) DropUsagePartitionsBefore(_ context.Context, before time.Time) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, before)
	if f.done != nil && len(f.calls) == 1 {
		close(f.done)
	}
	return []string{"usagelogs_2020_01"}, f.err
}

func TestRetainOnce(t *testing.T) {
	now := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	f := &fakeRetainer{}
	if got, err := RetainOnce(t.Context(), f, 0, now); err != nil || got != nil || len(f.calls) != 0 {
		t.Fatalf("months 0: %v %v, %d calls", got, err, len(f.calls))
	}
	got, err := RetainOnce(t.Context(), f, 2, now)
	if err != nil || !reflect.DeepEqual(got, []string{"usagelogs_2020_01"}) ||
		!reflect.DeepEqual(f.calls, []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}) {
		t.Fatalf("got %v %v, calls %v", got, err, f.calls)
	}
	f.err = errors.New("boom")
	if _, err := RetainOnce(t.Context(), f, 2, now); err == nil {
		t.Fatal("error not returned")
	}
}

func TestRunRetention(t *testing.T) {
	t.Run("disabled returns at once", func(t *testing.T) {
		f := &fakeRetainer{}
		RunRetention(t.Context(), f, 0, nil)
		if len(f.calls) != 0 {
			t.Fatalf("calls %v", f.calls)
		}
	})
	t.Run("runs at start and stops with the context", func(t *testing.T) {
		f := &fakeRetainer{done: make(chan struct{}), err: errors.New("transient")}
		ctx, cancel := context.WithCancel(t.Context())
		ended := make(chan struct{})
		go func() {
			RunRetention(ctx, f, 6, func() time.Time { return time.Date(2026, 7, 4, 0, 0, 0, 0, time.UTC) })
			close(ended)
		}()
		select {
		case <-f.done:
		case <-time.After(5 * time.Second):
			t.Fatal("no retention run at start")
		}
		cancel()
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("RunRetention did not return after cancel")
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.calls[0].Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("cutoff %v", f.calls[0])
		}
	})
}
