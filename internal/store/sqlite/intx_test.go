package sqlite

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

// TestInTxPanicReleasesTheConnection: a panic inside a transaction rolls it
// back, so the connection is free for the next one. In memory the store has
// one connection, so a leaked transaction would block every later one.
func TestInTxPanicReleasesTheConnection(t *testing.T) {
	s, err := Open(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not come through")
			}
		}()
		_ = s.inTx(context.Background(), func(tx *sql.Tx) error { panic("bug inside a transaction") })
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "SELECT 1")
		return err
	})
	if err != nil {
		t.Fatalf("the next transaction: %v", err)
	}
}
