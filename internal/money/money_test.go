package money

import "testing"

func TestParseUSD(t *testing.T) {
	cases := []struct {
		in   string
		want Micros
		err  bool
	}{
		{"2.5", 2_500_000, false},
		{"0.000150", 150, false},
		{"3", 3_000_000, false},
		{"1e-6", 1, false},
		{"0.0000001", 0, true},
		{"-1", 0, true},
		{"abc", 0, true},
		{"", 0, true},
	}
	for _, c := range cases {
		got, err := ParseUSD(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseUSD(%q) = %d, %v; want %d, err=%v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestPerTokenAndFormat(t *testing.T) {
	// $2.50 per 1M tokens: one token costs 2500 nano-USD.
	if got := PerToken(1, 2_500_000); got != 2500 {
		t.Fatalf("PerToken = %d", got)
	}
	if got := PerToken(1_000_000, 2_500_000); got != 2_500_000_000 {
		t.Fatalf("PerToken 1M = %d", got)
	}
	// rounding up of a fractional nano-dollar
	if got := PerToken(1, 1); got != 1 {
		t.Fatalf("PerToken tiny = %d", got)
	}
	if s := Nanos(2_500_000_000).USD(); s != "2.5" {
		t.Fatalf("USD = %s", s)
	}
	if s := Nanos(1).USD(); s != "0.000000001" {
		t.Fatalf("USD = %s", s)
	}
	if s := Micros(150).USD(); s != "0.00015" {
		t.Fatalf("USD = %s", s)
	}
}
