package gemini

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// fixedNow is the clock of the golden tests.
func fixedNow() time.Time { return time.Unix(1700000000, 0) }

// golden compares got with testdata/name.golden, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dumpRequest renders an upstream request for a golden file: the request line,
// the headers sorted, a blank line and the body indented.
func dumpRequest(t *testing.T, req *http.Request) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(req.Method + " " + req.URL.String() + "\n")
	keys := make([]string, 0, len(req.Header))
	for k := range req.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(k + ": " + strings.Join(req.Header[k], ", ") + "\n")
	}
	b.WriteString("\n")
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(body) || bytes.ContainsAny(body, "\n") {
		t.Fatalf("body is not compact JSON: %s", body)
	}
	if err := json.Indent(&b, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n")
	return b.Bytes()
}

// fixedEnv is the environment of the golden tests: a fixed clock, and ids
// "gen0", "gen1", … when Gemini gives no responseId.
func fixedEnv() env {
	n := 0
	return env{now: fixedNow, newID: func() string {
		n++
		return "gen" + string(rune('0'+n-1))
	}}
}
