package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/antigravity/gateway/internal/fakeprovider"
)

// Path prefixes of the fake role: one fake provider per shape of reply.
const (
	nonStreamPrefix = "/ns" // non-streamed replies after a fixed latency
	streamPrefix    = "/st" // streams of words at a fixed pace
)

// fakeOptions is the fake provider behind each prefix.
type fakeOptions struct {
	latency, streamFirst, streamToken time.Duration
	tokens                            int
}

// fakeHandler serves two fake providers: under /ns one answering non-streamed
// requests after latency, under /st one streaming tokens words, streamFirst
// before the first and streamToken between the others. Neither records requests.
// A service clock times each request the driver tagged (servicetime.go).
func fakeHandler(o fakeOptions) http.Handler {
	ns := fakeprovider.New(fakeprovider.Options{FirstTokenLatency: o.latency, ReplyTokens: o.tokens, RecordLimit: -1})
	st := fakeprovider.New(fakeprovider.Options{FirstTokenLatency: o.streamFirst, TokenLatency: o.streamToken,
		ReplyTokens: o.tokens, RecordLimit: -1})
	mux := http.NewServeMux()
	mux.Handle(nonStreamPrefix+"/", http.StripPrefix(nonStreamPrefix, ns))
	mux.Handle(streamPrefix+"/", http.StripPrefix(streamPrefix, st))
	return newServiceClock(mux)
}

// runFake is the fake role: the fake provider on a loopback port.
func runFake(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("loadharness fake", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	var o fakeOptions
	fs.DurationVar(&o.latency, "latency", 20*time.Millisecond, "latency of a non-streamed reply (under "+nonStreamPrefix+")")
	fs.DurationVar(&o.streamFirst, "stream-first", 2*time.Millisecond, "wait before a stream's first chunk (under "+streamPrefix+")")
	fs.DurationVar(&o.streamToken, "stream-token", 2*time.Millisecond, "wait between streamed words")
	fs.IntVar(&o.tokens, "tokens", 16, "words per reply")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return serve(ctx, *listen, fakeHandler(o))
}

// bareProxy is the floor: httputil.ReverseProxy to upstream with a connection
// pool as large as the gateway's, and nothing else.
func bareProxy(upstream *url.URL) http.Handler {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2048,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(upstream) },
		Transport: tr,
	}
}

// runBare is the bare role: a bare httputil.ReverseProxy to -upstream.
func runBare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("loadharness bare", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	upstream := fs.String("upstream", "", "upstream base URL (the fake provider)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*upstream)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-upstream must be an http URL, got %q", *upstream)
	}
	return serve(ctx, *listen, bareProxy(u))
}

// serve runs h on addr until ctx ends.
func serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	log.Printf("listening on %s", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
