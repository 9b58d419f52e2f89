package proxy

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadAll(t *testing.T) {
	body := strings.Repeat("0123456789", 100) // 1000 bytes
	for _, tc := range []struct {
		name string
		hint int64
		r    func() io.Reader
	}{
		{"exact hint", 1000, func() io.Reader { return strings.NewReader(body) }},
		{"no hint", -1, func() io.Reader { return strings.NewReader(body) }},
		{"hint too small", 10, func() io.Reader { return strings.NewReader(body) }},
		{"hint too large", 5000, func() io.Reader { return strings.NewReader(body) }},
		{"one byte at a time", 1000, func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) }},
		{"data with EOF", 1000, func() io.Reader { return iotest.DataErrReader(strings.NewReader(body)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(tc.r(), tc.hint)
			if err != nil || string(got) != body {
				t.Fatalf("readAll: %d bytes, %v", len(got), err)
			}
		})
	}
	boom := errors.New("boom")
	got, err := readAll(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), 10)
	if !errors.Is(err, boom) || !bytes.Equal(got, []byte("abc")) {
		t.Fatalf("error mid-body: %q %v", got, err)
	}
	sr := strings.NewReader(body)
	if n := testing.AllocsPerRun(100, func() { sr.Reset(body); _, _ = readAll(sr, 1000) }); n > 1 {
		t.Fatalf("%v allocations with an exact hint, want 1", n)
	}
}
