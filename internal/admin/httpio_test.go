package admin

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/antigravity/gateway/internal/store"
)

// capped behaves like a store list: Page normalised (at most 1000 rows).
func capped(all []int) func(store.Page) ([]int, error) {
	return func(p store.Page) ([]int, error) {
		got, _ := slicePage(all, p.Normalized())
		return got, nil
	}
}

func TestFetchPage(t *testing.T) {
	all := make([]int, 1500)
	for i := range all {
		all[i] = i
	}
	cases := []struct {
		limit, offset int
		n, first      int
		hasMore       bool
	}{
		{100, 0, 100, 0, true},
		{10, 1490, 10, 1490, false},
		{10, 1489, 10, 1489, true},
		{1000, 0, 1000, 0, true},
		{1000, 400, 1000, 400, true},
		{1000, 500, 1000, 500, false},
		{1000, 1400, 100, 1400, false},
		{999, 501, 999, 501, false},
		{5, 2000, 0, 0, false},
	}
	for _, c := range cases {
		rows, more, err := fetchPage(store.Page{Limit: c.limit, Offset: c.offset}, capped(all))
		if err != nil || len(rows) != c.n || more != c.hasMore || (c.n > 0 && rows[0] != c.first) {
			t.Errorf("limit %d offset %d: %d rows (first %v) has_more %v err %v; want %d (first %d) %v",
				c.limit, c.offset, len(rows), rows[:min(1, len(rows))], more, err, c.n, c.first, c.hasMore)
		}
	}
	boom := errors.New("boom")
	if _, _, err := fetchPage(store.Page{Limit: 10}, func(store.Page) ([]int, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

func TestSlicePage(t *testing.T) {
	all := []int{0, 1, 2, 3, 4}
	cases := []struct {
		limit, offset int
		want          []int
		hasMore       bool
	}{
		{2, 0, []int{0, 1}, true},
		{2, 3, []int{3, 4}, false},
		{10, 0, []int{0, 1, 2, 3, 4}, false},
		{1, 4, []int{4}, false},
		{1, 5, nil, false},
	}
	for _, c := range cases {
		got, more := slicePage(all, store.Page{Limit: c.limit, Offset: c.offset})
		if len(got) != len(c.want) || more != c.hasMore {
			t.Errorf("limit %d offset %d: %v %v, want %v %v", c.limit, c.offset, got, more, c.want, c.hasMore)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("limit %d offset %d: %v, want %v", c.limit, c.offset, got, c.want)
			}
		}
	}
}

func TestClientHost(t *testing.T) {
	cases := []struct{ remote, want string }{
		{"203.0.113.9:4711", "203.0.113.9"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"unix-socket", "unix-socket"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if got := clientHost(r); got != c.want {
			t.Errorf("clientHost(%q) = %q, want %q", c.remote, got, c.want)
		}
	}
}

func TestValidators(t *testing.T) {
	cases := []struct {
		name string
		err  error
		ok   bool
	}{
		{"oid plain", validOID("Abc.def_9@x-y"), true},
		{"oid empty", validOID(""), false},
		{"oid colon", validOID("a:b"), false},
		{"email empty", validEmail(""), true},
		{"email ok", validEmail("a@b"), true},
		{"email space", validEmail("a b@c"), false},
		{"model dots and colons", validModelName("name", "gpt-4o:2024-08-06.v1"), true},
		{"model unicode space", validModelName("name", "a\u00a0b"), false},
		{"model newline", validModelName("name", "a\nb"), false},
	}
	for _, c := range cases {
		if (c.err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok=%v", c.name, c.err, c.ok)
		}
	}
	urls := []struct{ in, want string }{
		{"https://api.openai.com/v1/", "https://api.openai.com/v1"},
		{" http://localhost:8080 ", "http://localhost:8080"},
		{"https://x.example//", "https://x.example"},
		{"mailto:a@b", ""},
		{"https://", ""},
		{"https://x.example/#frag", ""},
	}
	for _, c := range urls {
		got, err := normalBaseURL(c.in)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("normalBaseURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
