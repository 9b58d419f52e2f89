package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one endpoint the driver calls with the same request every time.
type Target struct {
	Name   string
	URL    string
	Header http.Header
	Body   []byte
	// Stream: the reply is a server-sent event stream; it is read to the end
	// and must end with the [DONE] event. Latency is the full-stream time.
	Stream bool
}

// Result is what one constant-rate run measured.
type Result struct {
	Rate    float64
	Planned int // requests the schedule called for
	Sent    int // requests actually sent
	OK      int
	Errors  int            // failed or not sent (in-flight cap)
	Kinds   map[string]int // errors by kind
	// Latencies of the successful requests, from just before sending to the
	// last byte read, in completion order (unsorted).
	Latencies []time.Duration
	// Overheads, when the driver has a ServiceURL: for each successful
	// request whose service time the fake reported, its latency minus that
	// time (servicetime.go). Untimed counts the successful requests without
	// one; ServiceErr is why none could be had.
	Overheads  []time.Duration
	Untimed    int
	ServiceErr error
	// SendLag is how late the last request left against its schedule: large
	// when the driver cannot keep the rate.
	SendLag time.Duration
	Elapsed time.Duration // from the first send to the last completion
}

// Driver sends requests at a constant rate, open-loop: a request leaves at its
// scheduled time whether or not earlier ones have finished, so a slow target
// cannot slow the driver down and hide its own latency.
type Driver struct {
	Client *http.Client
	// MaxInflight bounds the requests in flight; a request due beyond it is not
	// sent and counts as an error ("in-flight cap").
	MaxInflight int
	// ServiceURL is the fake provider's base URL: when set, Run tags its
	// requests and asks the fake for its own time on each (servicetime.go).
	ServiceURL string
	bufs       sync.Pool
	lastID     atomic.Uint64
}

// newDriver returns a driver with a keep-alive client of its own (no proxy from
// the environment, no compression) and a per-request timeout.
func newDriver(timeout time.Duration, maxInflight int) *Driver {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 8192,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Driver{Client: &http.Client{Transport: tr, Timeout: timeout}, MaxInflight: maxInflight}
}

// Run calls t at rate requests per second for dur, waits for the requests in
// flight (bounded by the client's timeout), and returns the measurements.
// Cancelling ctx stops sending; requests already sent still finish.
func (d *Driver) Run(ctx context.Context, t Target, rate float64, dur time.Duration) *Result {
	n := max(1, int(math.Round(rate*dur.Seconds())))
	interval := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, n)
	kinds := make([]string, n)
	var ids []uint64
	if d.ServiceURL != "" {
		ids = make([]uint64, n)
		first := d.lastID.Add(uint64(n)) - uint64(n) + 1
		for i := range ids {
			ids[i] = first + uint64(i)
		}
	}
	maxInfl := int64(d.MaxInflight)
	if maxInfl <= 0 {
		maxInfl = math.MaxInt64
	}
	var (
		inflight atomic.Int64
		wg       sync.WaitGroup
		sent     int
		lastDue  time.Time
		lastSent time.Time
	)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			n = i
			break
		}
		lastDue, lastSent = due, time.Now()
		if inflight.Load() >= maxInfl {
			kinds[i] = "in-flight cap"
			continue
		}
		sent++
		inflight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inflight.Add(-1)
			var id uint64
			if ids != nil {
				id = ids[i]
			}
			lat[i], kinds[i] = d.do(t, id)
		}()
	}
	wg.Wait()
	r := &Result{Rate: rate, Planned: n, Sent: sent, Kinds: map[string]int{}, Elapsed: time.Since(start)}
	if !lastDue.IsZero() {
		r.SendLag = lastSent.Sub(lastDue)
	}
	r.Latencies = make([]time.Duration, 0, n)
	for i := range n {
		if kinds[i] != "" {
			r.Errors++
			r.Kinds[kinds[i]]++
			continue
		}
		r.OK++
		r.Latencies = append(r.Latencies, lat[i])
	}
	if ids != nil {
		r.fillOverheads(ctx, d, ids[:n], lat, kinds)
	}
	return r
}

// fillOverheads fills r.Overheads from the fake's service times of ids.
func (r *Result) fillOverheads(ctx context.Context, d *Driver, ids []uint64, lat []time.Duration, kinds []string) {
	// The fake is asked even when ctx has ended: its times must not be left
	// to the next run.
	times, err := fetchServiceTimes(context.WithoutCancel(ctx), d.Client, d.ServiceURL)
	if err != nil {
		r.ServiceErr = err
		r.Untimed = r.OK
		return
	}
	r.Overheads = make([]time.Duration, 0, r.OK)
	for i, id := range ids {
		if kinds[i] != "" {
			continue
		}
		svc, ok := times[id]
		if !ok {
			r.Untimed++
			continue
		}
		r.Overheads = append(r.Overheads, lat[i]-svc)
	}
}

// doneEvent ends every complete OpenAI stream.
const doneEvent = "data: [DONE]\n\n"

// do sends one request and reads the reply to the end. It returns the latency,
// or the kind of error ("" on success). An id other than 0 tags the body for
// the fake's service clock.
func (d *Driver) do(t Target, id uint64) (time.Duration, string) {
	body := t.Body
	if id != 0 {
		body = tagBody(body, id)
	}
	req, err := http.NewRequest(http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return 0, "bad request: " + err.Error()
	}
	for k, v := range t.Header {
		req.Header[k] = v
	}
	bp, _ := d.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 32<<10)
		bp = &b
	}
	defer d.bufs.Put(bp)

	start := time.Now()
	resp, err := d.Client.Do(req)
	if err != nil {
		return 0, errKind(err)
	}
	var tail tailWriter
	_, err = io.CopyBuffer(&tail, resp.Body, *bp)
	_ = resp.Body.Close()
	elapsed := time.Since(start)
	switch {
	case resp.StatusCode != http.StatusOK:
		return 0, "status " + strconv.Itoa(resp.StatusCode)
	case err != nil:
		return 0, "reading the reply: " + errKind(err)
	case t.Stream && !strings.HasSuffix(string(tail.b[:tail.n]), doneEvent):
		return 0, "stream without [DONE]"
	}
	return elapsed, ""
}

// tailWriter keeps the last bytes written to it.
type tailWriter struct {
	b [32]byte
	n int
}

func (w *tailWriter) Write(p []byte) (int, error) {
	if len(p) >= len(w.b) {
		w.n = copy(w.b[:], p[len(p)-len(w.b):])
		return len(p), nil
	}
	if keep := len(w.b) - len(p); w.n > keep {
		copy(w.b[:], w.b[w.n-keep:w.n])
		w.n = keep
	}
	w.n += copy(w.b[w.n:], p)
	return len(p), nil
}

// errKind names an error without the addresses and URLs that make each one
// unique.
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed early"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// Summary is the distribution of a set of latencies.
type Summary struct {
	Count              int
	P50, P90, P99, Max time.Duration
	Mean               time.Duration
}

// summarize sorts lat in place and summarises it.
func summarize(lat []time.Duration) Summary {
	slices.Sort(lat)
	s := Summary{Count: len(lat)}
	if len(lat) == 0 {
		return s
	}
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	s.Mean = sum / time.Duration(len(lat))
	s.P50, s.P90, s.P99 = percentile(lat, 50), percentile(lat, 90), percentile(lat, 99)
	s.Max = lat[len(lat)-1]
	return s
}

// percentile returns the nearest-rank p-th percentile of sorted (0 < p ≤ 100):
// the smallest value with at least p% of the values at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
