package reqscope

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// TestNewID checks the shape of request ids, that they are unique within a
// millisecond, and that ids of later milliseconds sort after earlier ones.
func TestNewID(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	var before, this string // the largest id of the previous millisecond, of this one
	for i := range 2000 {
		if i%4 == 0 { // four ids per millisecond
			before = this
		}
		id := NewID(t0.Add(time.Duration(i/4) * time.Millisecond))
		hexPart, ok := strings.CutPrefix(id, "req_")
		if _, err := hex.DecodeString(hexPart); !ok || err != nil || len(hexPart) != 28 {
			t.Fatalf("NewID = %q: want req_ and 28 hex characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
		if id <= before {
			t.Fatalf("id %q sorts before %q of an earlier millisecond", id, before)
		}
		this = max(this, id)
	}
	if got, want := NewID(t0)[4:16], "01a21b5fe880"; got != want {
		t.Errorf("time part of %v = %s, want %s (Unix ms in hex)", t0, got, want)
	}
}
