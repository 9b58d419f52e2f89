package billing

import (
	"context"
	"log/slog"
	"time"
)

// Retainer removes old raw usage rows; store.Billing implements it.
type Retainer interface {
	DropUsagePartitionsBefore(ctx context.Context, before time.Time) ([]string, error)
}

// RetentionInterval is how often RunRetention checks for partitions to drop.
const RetentionInterval = time.Hour

// RetentionCutoff is the first UTC month whose raw usage rows are kept when
// months full months before the current one are retained: rows created
// before it go. months < 1 keeps everything (zero time).
func RetentionCutoff(now time.Time, months int) time.Time {
	if months < 1 {
		return time.Time{}
	}
	n := now.UTC()
	return time.Date(n.Year(), n.Month()-time.Month(months), 1, 0, 0, 0, 0, time.UTC)
}

// RetainOnce drops the raw usage of the months before RetentionCutoff and
// returns the partitions dropped (nothing when months < 1). The rollups, and
// so billing, are kept.
func RetainOnce(ctx context.Context, st Retainer, months int, now time.Time) ([]string, error) {
	cutoff := RetentionCutoff(now, months)
	if cutoff.IsZero() {
		return nil, nil
	}
	return st.DropUsagePartitionsBefore(ctx, cutoff)
}

// RunRetention applies GATEWAY_USAGE_RETENTION_MONTHS: it runs RetainOnce at
// once and then every RetentionInterval until ctx ends, logging what it drops
// and any failure (retried at the next tick). It returns at once when months
// < 1. Several replicas may run it: dropping is idempotent.
func RunRetention(ctx context.Context, st Retainer, months int, now func() time.Time) {
	if months < 1 {
		return
	}
	if now == nil {
		now = time.Now
	}
	log := slog.Default()
	tick := time.NewTicker(RetentionInterval)
	defer tick.Stop()
	for {
		dropped, err := RetainOnce(ctx, st, months, now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("billing: usage retention failed", "months", months, "err", err)
		case len(dropped) > 0:
			log.Info("billing: dropped old usage partitions", "months", months, "partitions", dropped)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
