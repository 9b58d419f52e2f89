package pgtest

import "testing"

func TestWithDatabase(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "postgres://postgres@127.0.0.1:5432/gwtest_x?sslmode=disable"},
		{"postgres://u:p@h/", "postgres://u:p@h/gwtest_x"},
		{"postgresql://h:5433?dbname=test&sslmode=disable", "postgresql://h:5433/gwtest_x?dbname=gwtest_x&sslmode=disable"},
		{"host=127.0.0.1 user=postgres dbname=test", "host=127.0.0.1 user=postgres dbname=test dbname=gwtest_x"},
	}
	for _, c := range cases {
		got, err := withDatabase(c.in, "gwtest_x")
		if err != nil || got != c.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestNewDatabase(t *testing.T) {
	url := NewDatabase(t) // skips without TEST_DATABASE_URL
	if url == "" {
		t.Fatal("empty url")
	}
	if err := exec(t.Context(), url, "CREATE TABLE t (x int)"); err != nil {
		t.Fatalf("the new database is not usable: %v", err)
	}
}
