package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/sqlite"
	"github.com/antigravity/gateway/internal/store/storetest"
)

func open(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, open)
}
