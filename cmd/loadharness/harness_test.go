package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDriverAgainstFake drives the in-process fake provider, directly and through
// the bare proxy, for about a second each, non-streaming and streaming, and checks
// the numbers are sane. It needs neither taskset nor the gateway binary.
func TestDriverAgainstFake(t *testing.T) {
	fake := httptest.NewServer(fakeHandler(fakeOptions{
		latency: 2 * time.Millisecond, streamFirst: time.Millisecond, streamToken: 100 * time.Microsecond, tokens: 8,
	}))
	defer fake.Close()
	u, _ := url.Parse(fake.URL)
	bare := httptest.NewServer(bareProxy(u))
	defer bare.Close()

	d := newDriver(5*time.Second, 1000)
	d.ServiceURL = fake.URL
	for _, base := range []*subject{
		{name: "direct", kind: kindDirect, base: fake.URL},
		{name: "bare", kind: kindBare, base: bare.URL},
	} {
		for _, stream := range []bool{false, true} {
			r := d.Run(context.Background(), base.target(stream), 200, 500*time.Millisecond)
			sum := summarize(r.Latencies)
			t.Logf("%s stream=%v: %d sent, %d ok, p50 %v p99 %v max %v lag %v", base.name, stream, r.Sent, r.OK,
				sum.P50, sum.P99, sum.Max, r.SendLag)
			switch {
			case r.Planned != 100 || r.Sent != 100:
				t.Errorf("planned %d, sent %d, want 100", r.Planned, r.Sent)
			case r.Errors != 0 || r.OK != r.Sent:
				t.Errorf("%d errors: %v", r.Errors, r.Kinds)
			case sum.Count != r.OK || sum.P50 <= 0 || sum.P50 > sum.P99 || sum.P99 > sum.Max:
				t.Errorf("summary %+v", sum)
			case sum.P50 < time.Millisecond:
				t.Errorf("p50 %v is below the fake's latency", sum.P50)
			case r.ServiceErr != nil || r.Untimed != 0 || len(r.Overheads) != r.OK:
				t.Errorf("service times: %d overheads for %d ok, %d untimed, %v", len(r.Overheads), r.OK, r.Untimed, r.ServiceErr)
			}
			// The fake's own time on each request is at least its latency
			// (2 ms, or 1 ms + 7 × 0.1 ms for a stream) and at most the
			// whole latency.
			minService := 2 * time.Millisecond
			if stream {
				minService = time.Millisecond + 700*time.Microsecond
			}
			over := summarize(r.Overheads)
			if over.Count > 0 && (over.P50 < 0 || over.Max > sum.Max-minService) {
				t.Errorf("overheads p50 %v max %v, latencies max %v: not latency − service time", over.P50, over.Max, sum.Max)
			}
		}
	}
}

func TestMedianAdded(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		name           string
		target, direct []time.Duration
		want           time.Duration
		ok             bool
	}{
		{"odd: the middle difference", ms(5, 30, 7), ms(4, 4, 4), 3 * time.Millisecond, true},
		{"paired by round, not by size", ms(10, 3), ms(9, 1), 1500 * time.Microsecond, true},
		{"a shorter side bounds the rounds", ms(2, 50, 60), ms(1), time.Millisecond, true},
		{"no rounds", nil, ms(1), 0, false},
	} {
		got, ok := medianAdded(tc.target, tc.direct)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: medianAdded = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// TestRequestTag checks the driver's tag survives into the fake's parse and
// leaves the body a valid object.
func TestRequestTag(t *testing.T) {
	for _, body := range []string{`{"model":"m"}`, `{}`, `{ }`, "{\n\"a\":1}"} {
		tagged := tagBody([]byte(body), 12345)
		if !json.Valid(tagged) {
			t.Errorf("tagBody(%s) = %s: not JSON", body, tagged)
		}
		if id, ok := requestTag(tagged); !ok || id != 12345 {
			t.Errorf("requestTag(%s) = %d, %v", tagged, id, ok)
		}
	}
	if _, ok := requestTag([]byte(`{"model":"m"}`)); ok {
		t.Error("an untagged body has a tag")
	}
}

// TestDriverCountsErrors checks failures are counted by kind, not as latencies.
func TestDriverCountsErrors(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "no", http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte("data: {}\n\n")) // a stream cut before [DONE]
	}))
	defer srv.Close()
	d := newDriver(time.Second, 100)
	r := d.Run(context.Background(), Target{URL: srv.URL, Stream: true}, 100, 200*time.Millisecond)
	if r.OK != 0 || r.Errors != 20 || r.Kinds["status 429"] != 10 || r.Kinds["stream without [DONE]"] != 10 {
		t.Fatalf("ok %d errors %d kinds %v", r.OK, r.Errors, r.Kinds)
	}
}

func TestDriverInflightCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
	}))
	defer srv.Close()
	d := newDriver(time.Second, 5)
	r := d.Run(context.Background(), Target{URL: srv.URL}, 100, 200*time.Millisecond)
	if r.Sent != 5 || r.OK != 5 || r.Kinds["in-flight cap"] != 15 {
		t.Fatalf("sent %d ok %d kinds %v", r.Sent, r.OK, r.Kinds)
	}
}

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	s := summarize(lat)
	if s.Count != 100 || s.P50 != 50*time.Millisecond || s.P90 != 90*time.Millisecond ||
		s.P99 != 99*time.Millisecond || s.Max != 100*time.Millisecond || s.Mean != 50500*time.Microsecond {
		t.Fatalf("%+v", s)
	}
	if percentile([]time.Duration{7}, 99) != 7 || percentile(nil, 50) != 0 || percentile(lat, 0.001) != lat[0] {
		t.Fatal("edge cases")
	}
}

func TestTailWriter(t *testing.T) {
	var w tailWriter
	for _, p := range []string{"data: x\n\n", strings.Repeat("y", 40), "data: [DO", "NE]\n\n"} {
		_, _ = w.Write([]byte(p))
	}
	if got := string(w.b[:w.n]); !strings.HasSuffix(got, doneEvent) || len(got) != len(w.b) {
		t.Fatalf("tail %q", got)
	}
}

func TestWriteReportKeepsTheRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "perf.md")
	doc := "# Perf\n\nmethod\n\n" + beginMarker + "\nold figures\n" + endMarker + "\n\n## After\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, beginMarker+"\nnew figures\n"+endMarker+"\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := "# Perf\n\nmethod\n\n" + beginMarker + "\nnew figures\n" + endMarker + "\n\n## After\n"
	if string(b) != want {
		t.Fatalf("got %q", b)
	}
}

func TestCPUHelpers(t *testing.T) {
	if cpuCount("1") != 1 || cpuCount("0,2") != 2 || cpuCount("2-5") != 4 || firstCPU("3-4") != 3 {
		t.Fatal("cpu lists")
	}
	// user nice system idle iowait irq softirq steal guest guest_nice
	stat := "cpu  9 9 9 9 9 9 9 9 9 9\ncpu0 100 2 30 5000 7 1 2 40 50 0\ncpu1 10 0 3 900 0 0 0 0 0 0\nintr 5\n"
	want := map[int]cpuTimes{0: {busy: 1350 * time.Millisecond, steal: 400 * time.Millisecond}, 1: {busy: 130 * time.Millisecond}}
	if got := parseCoreTimes([]byte(stat)); !reflect.DeepEqual(got, want) {
		t.Errorf("parseCoreTimes = %v, want %v", got, want)
	}
	if _, err := cpuTime(os.Getpid()); err != nil {
		t.Skip("no /proc:", err)
	}
	if rss, _, err := memory(os.Getpid()); err != nil || rss <= 0 {
		t.Fatalf("rss %d, %v", rss, err)
	}
	// Three writes to a file count three write system calls (the test's
	// other goroutines may add some).
	_, w0, err := ioCalls(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "w"))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, _ = f.Write([]byte("x"))
	}
	_ = f.Close()
	if _, w1, err := ioCalls(os.Getpid()); err != nil || w1-w0 < 3 {
		t.Errorf("write calls %d → %d (%v), want at least 3 more", w0, w1, err)
	}
}

func TestBudgetFigures(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_get:calls=9,usec=9,usec_per_call=1.00\r\n" +
		"cmdstat_evalsha:calls=10,usec=400,usec_per_call=40.00,rejected_calls=0,failed_calls=1\r\n" +
		"cmdstat_eval:calls=2,usec=100,usec_per_call=50.00\r\ncmdstat_fcall:calls=1,usec=5,usec_per_call=5.00\r\n"
	if calls, usec := parseScriptStats(info); calls != 13 || usec != 505 {
		t.Fatalf("calls %d usec %d", calls, usec)
	}
	got := scriptsPerRequest(map[string]float64{"settle": 100, "reserve": 100, "rebuild": 1}, 100)
	if want := "2.010 (reserve 1.00, settle 1.00, rebuild 0.010)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestSaturate: closed-loop callers keep the fake busy for the turn, every
// request counts, and the report compares the sides.
func TestSaturate(t *testing.T) {
	fake := httptest.NewServer(fakeHandler(fakeOptions{latency: 2 * time.Millisecond, tokens: 4}))
	defer fake.Close()
	d := newDriver(5*time.Second, 1000)
	s := &subject{name: "direct", kind: kindDirect, base: fake.URL}
	ok, failed, elapsed := d.Saturate(context.Background(), s.target(false), 8, 300*time.Millisecond)
	// 8 callers, ≥ 2 ms per request, 300 ms: at most 1,200 requests, and
	// surely more than a tenth of that.
	if failed != 0 || ok < 120 || ok > 1200 || elapsed < 300*time.Millisecond {
		t.Fatalf("ok %d failed %d in %v", ok, failed, elapsed)
	}

	r := &report{cfg: &config{satWorkers: 8, rounds: 2, roundDur: time.Second}, sat: []*satResult{{
		off: "gw", on: "gw+budget",
		rounds: [][2]satTurn{
			{{ok: 1000, elapsed: time.Second, cpu: 100 * time.Millisecond}, {ok: 950, elapsed: time.Second, cpu: 105 * time.Millisecond}},
			{{ok: 1000, elapsed: time.Second, cpu: 100 * time.Millisecond}, {ok: 850, elapsed: time.Second, cpu: 100 * time.Millisecond}},
		},
	}}}
	var b strings.Builder
	r.satSection(&b)
	for _, want := range []string{"| gw | 1000 | 900 | 0.900 ✅ | 0.950, 0.850 | 0 / 0 | 100 → 114 | 0.878 |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// TestMeasureStalls checks the stall meter's bookkeeping on a real clock: it
// runs for its duration, its counts are nested (every gap over 1 ms is also
// over 300 µs and over 50 µs) and it never reports more stalled time than ran.
func TestMeasureStalls(t *testing.T) {
	st := measureStalls(100 * time.Millisecond)
	if st.Duration != 100*time.Millisecond {
		t.Fatalf("duration %v", st.Duration)
	}
	if st.Counts[0] < st.Counts[1] || st.Counts[1] < st.Counts[2] {
		t.Fatalf("counts not nested: %v", st.Counts)
	}
	if st.Stalled < 0 || st.Stalled > 2*st.Duration {
		t.Fatalf("stalled %v of %v", st.Stalled, st.Duration)
	}
	if (st.Counts[0] == 0) != (st.Stalled == 0) || st.Max > st.Stalled {
		t.Fatalf("inconsistent: %+v", st)
	}
	st.CPU = "0"
	if d := st.describe(); !strings.Contains(d, "CPU 0 lost") {
		t.Fatalf("describe: %q", d)
	}
}
