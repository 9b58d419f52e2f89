package store

import (
	"net"
	"runtime"
	"sync/atomic"
	"testing"
)

// TestPacerLetsNetworkWaitersRun: on one P, a goroutine waiting on a socket
// whose bytes have arrived runs early in a long CPU-bound write that calls
// Pacer.Maybe between its pieces. runtime.Gosched in its place (logged for
// comparison) lets it run only when sysmon polls the network, about 10 ms in.
func TestPacerLetsNetworkWaitersRun(t *testing.T) {
	const pieces = 2000
	run := func(t *testing.T, yield func()) int64 {
		prev := runtime.GOMAXPROCS(1)
		defer runtime.GOMAXPROCS(prev)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer server.Close()

		var done atomic.Int64 // pieces of the write done
		ranAt := make(chan int64, 1)
		parked := make(chan struct{})
		go func() {
			close(parked)
			var b [1]byte
			_, _ = server.Read(b[:]) // parks in the network poller
			ranAt <- done.Load()
		}()
		<-parked
		runtime.Gosched() // let the reader reach its Read
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		sink := 0
		for i := range pieces {
			for j := range 20000 { // a piece of CPU-bound work, some µs
				sink += j ^ i
			}
			done.Store(int64(i + 1))
			yield()
		}
		_ = sink
		return <-ranAt
	}
	var p Pacer
	paced := run(t, p.Maybe)
	gosched := run(t, runtime.Gosched)
	t.Logf("the waiting reader ran after %d of %d pieces with Pacer.Maybe, %d with runtime.Gosched", paced, pieces, gosched)
	if paced > pieces/20 {
		t.Errorf("with Pacer.Maybe the waiting reader ran only after %d of %d pieces of the write", paced, pieces)
	}
}
