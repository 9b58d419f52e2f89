package budget

import (
	"errors"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// Options are shared by both reservers; zero fields take the defaults.
type Options struct {
	// Location is the billing month's zone (default UTC).
	Location *time.Location
	// TTL is each hold's expiry (default 15m); it must exceed the upstream
	// timeout.
	TTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Metrics receives the counters (nil: none).
	Metrics *Metrics
}

func (o Options) normalized() Options {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.TTL <= 0 {
		o.TTL = 15 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// monthOf is the billing month of a request started at at (zero: now).
func (o Options) monthOf(at time.Time) Month {
	if at.IsZero() {
		at = o.Now()
	}
	return MonthOf(at, o.Location)
}
