package anthropic

import (
	"flag"
	"net/http"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/upstream/openaiwire/wiretest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// fixedNow is the clock of the golden tests.
func fixedNow() time.Time { return time.Unix(1700000000, 0) }

// golden compares got with testdata/name.golden, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	wiretest.Golden(t, name, got, *update)
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	return wiretest.ReadTestdata(t, name)
}

// dumpRequest renders an upstream request for a golden file.
func dumpRequest(t *testing.T, req *http.Request) []byte {
	t.Helper()
	return wiretest.DumpRequest(t, req)
}
