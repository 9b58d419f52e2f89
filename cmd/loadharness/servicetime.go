package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Service times: the fake provider's own time on each request, so the driver
// can subtract it from what it measured and keep what the path around the
// fake costs (loopback, the proxy, the driver). The fake runs on the driver's
// busy core, where its 20 ms timer fires late by a varying amount; that
// jitter is the same whoever calls the fake, but it differs from one turn to
// the next, and it dominates the difference of two tails measured in
// different turns. Per request it cancels exactly.
//
// The driver tags each request with a number in an extra top-level body
// member (tagMember), which every proxy passes through untouched (the gateway
// keeps unknown fields, by issue 2). The fake times its handler from the end
// of reading the body to the handler's return (for a stream, after [DONE]),
// keyed by that number, and hands the times over, once, at servicePath.

// tagMember is the body member carrying the driver's request number.
const tagMember = `"x_harness_id":`

// servicePath is where the fake hands over the service times it has recorded
// since the last call (and forgets them).
const servicePath = "/harness/service-times"

// serviceClock wraps the fake provider and times each tagged request.
type serviceClock struct {
	next  http.Handler
	mu    sync.Mutex
	times map[uint64]time.Duration
}

func newServiceClock(next http.Handler) *serviceClock {
	return &serviceClock{next: next, times: map[uint64]time.Duration{}}
}

func (c *serviceClock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == servicePath {
		c.handOver(w)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	id, tagged := requestTag(body)
	start := time.Now()
	c.next.ServeHTTP(w, r)
	if !tagged {
		return
	}
	d := time.Since(start)
	c.mu.Lock()
	c.times[id] = d
	c.mu.Unlock()
}

// handOver writes "id nanoseconds" lines and forgets them.
func (c *serviceClock) handOver(w http.ResponseWriter) {
	c.mu.Lock()
	times := c.times
	c.times = make(map[uint64]time.Duration, len(times))
	c.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	bw := bufio.NewWriter(w)
	for id, d := range times {
		fmt.Fprintf(bw, "%d %d\n", id, d.Nanoseconds())
	}
	_ = bw.Flush()
}

// requestTag finds the driver's number in a request body.
func requestTag(body []byte) (uint64, bool) {
	i := bytes.Index(body, []byte(tagMember))
	if i < 0 {
		return 0, false
	}
	rest := body[i+len(tagMember):]
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	id, err := strconv.ParseUint(string(rest[:n]), 10, 64)
	return id, err == nil
}

// tagBody returns body (a JSON object) with the member tagMember id first.
func tagBody(body []byte, id uint64) []byte {
	if len(body) < 2 || body[0] != '{' {
		return body
	}
	out := make([]byte, 0, len(body)+len(tagMember)+21)
	out = append(out, '{')
	out = append(out, tagMember...)
	out = strconv.AppendUint(out, id, 10)
	if rest := bytes.TrimSpace(body[1:]); len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, body[1:]...)
}

// fetchServiceTimes takes the service times the fake at base has recorded.
func fetchServiceTimes(ctx context.Context, client *http.Client, base string) (map[uint64]time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+servicePath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d", servicePath, resp.StatusCode)
	}
	out := map[uint64]time.Duration{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		idText, nsText, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		id, err1 := strconv.ParseUint(string(idText), 10, 64)
		ns, err2 := strconv.ParseInt(string(nsText), 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: bad line %q", servicePath, sc.Text())
		}
		out[id] = time.Duration(ns)
	}
	return out, sc.Err()
}
