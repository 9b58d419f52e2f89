package main

// The gateway's own time per request, from its access log: each line has the
// request's duration and the time it waited for the upstream's response
// headers (upstream_ms), so duration − upstream is what the gateway itself
// took (reading the request, authentication, parsing, routing, metering,
// writing the response), free of the fake provider's and the machine's
// scheduling noise that dominates the end-to-end tail on two cores.

import (
	"bufio"
	"encoding/json"
	"os"
	"time"
)

// window is one turn of a subject: requests that ended in it are its own.
type window struct{ from, to time.Time }

// ownTimes reads the access-log lines of path that ended inside a window and
// returns each request's duration minus its upstream wait.
func ownTimes(path string, ws []window) ([]time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Time     time.Time `json:"time"`
			Duration *float64  `json:"duration_ms"`
			Upstream *float64  `json:"upstream_ms"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Duration == nil || line.Upstream == nil {
			continue
		}
		for _, w := range ws {
			if !line.Time.Before(w.from) && line.Time.Before(w.to) {
				out = append(out, time.Duration((*line.Duration-*line.Upstream)*float64(time.Millisecond)))
				break
			}
		}
	}
	return out, sc.Err()
}
