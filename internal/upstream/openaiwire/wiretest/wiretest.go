// Package wiretest holds the golden-file helpers the provider translators'
// tests share (internal/upstream/anthropic, internal/upstream/gemini, and the
// wire-format fakes in internal/fakeprovider).
package wiretest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Golden compares got with testdata/name.golden, or rewrites it when update is
// set (each test package owns its -update flag).
func Golden(t testing.TB, name string, got []byte, update bool) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if update {
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

// ReadTestdata returns testdata/name.
func ReadTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DumpRequest renders an upstream request for a golden file: the request line,
// the headers sorted, a blank line and the body indented. The body must be
// compact JSON.
func DumpRequest(t testing.TB, req *http.Request) []byte {
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
