package wiretest

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// StreamInputs are a provider's wire-format inputs for StreamContract.
type StreamInputs struct {
	// FirstEvent is one valid event starting a stream; WantPrefix is how the
	// translated output of it starts.
	FirstEvent, WantPrefix string
	// Invalid is an event whose data is not JSON.
	Invalid string
	// Idle is a valid event that produces no output (kept open to test Close).
	Idle string
}

// StreamContract checks what every translated stream does, whatever the
// provider: a read error after the first event is passed through and no
// [DONE] is invented; an undecodable event becomes an OpenAI error event;
// Close closes the source and ends reading.
func StreamContract(t *testing.T, stream func(r io.Reader, model string) io.ReadCloser, in StreamInputs) {
	t.Run("read error", func(t *testing.T) {
		boom := errors.New("connection reset")
		got, err := io.ReadAll(stream(io.MultiReader(strings.NewReader(in.FirstEvent), iotest.ErrReader(boom)), "m"))
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
		if !bytes.HasPrefix(got, []byte(in.WantPrefix)) || bytes.Contains(got, []byte("[DONE]")) {
			t.Errorf("output %s", got)
		}
	})
	t.Run("invalid event", func(t *testing.T) {
		got, err := io.ReadAll(stream(strings.NewReader(in.Invalid), "m"))
		if err != nil {
			t.Fatal(err)
		}
		want := "data: {\"error\":{\"message\":\"The upstream sent an invalid stream event.\",\"type\":\"server_error\",\"param\":null,\"code\":\"invalid_upstream_event\"}}\n\n"
		if string(got) != want {
			t.Errorf("got %q", got)
		}
	})
	t.Run("close", func(t *testing.T) {
		src := &closeRecorder{Reader: strings.NewReader(in.Idle)}
		s := stream(src, "m")
		if err := s.Close(); err != nil || !src.closed {
			t.Fatalf("Close: err %v, source closed %v", err, src.closed)
		}
		if n, err := s.Read(make([]byte, 10)); n != 0 || err == nil {
			t.Errorf("Read after Close = %d, %v", n, err)
		}
	})
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }
