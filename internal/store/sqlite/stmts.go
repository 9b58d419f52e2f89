package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// writerStmts are the statements of the usage writer, prepared once at Open
// rather than in every batch's transaction: parsing them was a tenth of the
// writer's CPU (CPU profile of BenchmarkInsertUsage, 64-row batches). Each is prepared on a connection the
// first time a transaction there uses it (database/sql keeps them per
// connection), and a transaction takes its copy with Tx.StmtContext.
type writerStmts struct {
	insert                     [usageChunk + 1]*sql.Stmt // by rows per statement, 1..usageChunk
	rollups, months, dailyApps *sql.Stmt
}

// prepareWriterStmts prepares the usage writer's statements. It runs before
// any transaction: with one connection (":memory:") a prepare on the pool
// inside one would wait for that connection forever.
func prepareWriterStmts(ctx context.Context, db *sql.DB) (*writerStmts, error) {
	w := &writerStmts{}
	type stmt struct {
		dst   **sql.Stmt
		query string
	}
	list := []stmt{{&w.rollups, upsertRollupsSQL}, {&w.months, upsertMonthsSQL}, {&w.dailyApps, upsertAppDaysSQL}}
	for n := 1; n <= usageChunk; n++ {
		list = append(list, stmt{&w.insert[n], insertUsageSQL(n)})
	}
	for _, st := range list {
		var err error
		if *st.dst, err = db.PrepareContext(ctx, st.query); err != nil {
			_ = w.close()
			return nil, fmt.Errorf("sqlite: prepare %.60q: %w", st.query, err)
		}
	}
	return w, nil
}

// close closes the statements prepared so far.
func (w *writerStmts) close() error {
	var errs []error
	for _, st := range append(w.insert[:], w.rollups, w.months, w.dailyApps) {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
