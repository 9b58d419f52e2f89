package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"
)

// runDrive is the drive role: the load driver alone against one URL, printing
// one line per interval. It is for investigations (profiling a gateway started
// by hand, watching latency over time), not part of the orchestrated run.
func runDrive(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("loadharness drive", flag.ContinueOnError)
	u := fs.String("url", "", "chat completions URL, e.g. http://127.0.0.1:8080/v1/chat/completions")
	key := fs.String("key", "", "API key (Authorization: Bearer)")
	model := fs.String("model", modelNS, "model field of the request")
	stream := fs.Bool("stream", false, "streaming requests (read to [DONE])")
	rate := fs.Float64("rate", 1000, "requests per second")
	dur := fs.Duration("d", 10*time.Second, "total duration (at most 10m)")
	every := fs.Duration("every", time.Second, "report interval")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *u == "" || *rate <= 0 || *dur <= 0 || *dur > 10*time.Minute || *every <= 0 {
		return fmt.Errorf("need -url, a positive -rate, 0 < -d ≤ 10m and a positive -every")
	}
	t := Target{Name: "drive", URL: *u, Header: http.Header{"Content-Type": {"application/json"}},
		Body: requestBody(*model, *stream), Stream: *stream}
	if *key != "" {
		t.Header.Set("Authorization", "Bearer "+*key)
	}
	d := newDriver(10*time.Second, 5000)
	var all []time.Duration
	errs := 0
	for left := *dur; left > 0 && ctx.Err() == nil; left -= *every {
		r := d.Run(ctx, t, *rate, min(*every, left))
		s := summarize(r.Latencies)
		all = append(all, r.Latencies...)
		errs += r.Errors
		fmt.Fprintf(os.Stdout, "%s sent %5d ok %5d err %3d p50 %7.3fms p90 %7.3fms p99 %7.3fms max %7.3fms lag %5.1fms %v\n",
			time.Now().Format("15:04:05"), r.Sent, r.OK, r.Errors, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), ms(r.SendLag), r.Kinds)
	}
	s := summarize(all)
	fmt.Fprintf(os.Stdout, "total    ok %6d err %3d p50 %7.3fms p90 %7.3fms p99 %7.3fms max %7.3fms\n",
		s.Count, errs, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max))
	return nil
}
