package gemini

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestStreamGolden(t *testing.T) {
	for _, name := range []string{"stream_text", "stream_tool", "stream_error", "stream_cut", "stream_blocked"} {
		t.Run(name, func(t *testing.T) {
			in := readTestdata(t, name+".sse")
			got, err := io.ReadAll(newStream(bytes.NewReader(in), "my-gemini", fixedEnv()))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name, got)
			// Reading a byte at a time gives the same text.
			one, err := io.ReadAll(iotest.OneByteReader(newStream(iotest.OneByteReader(bytes.NewReader(in)), "my-gemini", fixedEnv())))
			if err != nil || !bytes.Equal(one, got) {
				t.Errorf("byte-wise read differs (err %v):\n%s", err, one)
			}
		})
	}
}

func TestStreamReadError(t *testing.T) {
	boom := errors.New("connection reset")
	src := io.MultiReader(strings.NewReader("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"index\":0}],\"responseId\":\"m\"}\n\n"), iotest.ErrReader(boom))
	got, err := io.ReadAll(Stream(src, "m"))
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if !bytes.HasPrefix(got, []byte(`data: {"id":"chatcmpl-m","object":"chat.completion.chunk",`)) || bytes.Contains(got, []byte("[DONE]")) {
		t.Errorf("output %s", got)
	}
}

func TestStreamInvalidEvent(t *testing.T) {
	got, err := io.ReadAll(Stream(strings.NewReader("data: {oops\n\n"), "m"))
	if err != nil {
		t.Fatal(err)
	}
	want := "data: {\"error\":{\"message\":\"The upstream sent an invalid stream event.\",\"type\":\"server_error\",\"param\":null,\"code\":\"invalid_upstream_event\"}}\n\n"
	if string(got) != want {
		t.Errorf("got %q", got)
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestStreamClose(t *testing.T) {
	src := &closeRecorder{Reader: strings.NewReader("data: {}\n\n")}
	s := Stream(src, "m")
	if err := s.Close(); err != nil || !src.closed {
		t.Fatalf("Close: err %v, source closed %v", err, src.closed)
	}
	if n, err := s.Read(make([]byte, 10)); n != 0 || err == nil {
		t.Errorf("Read after Close = %d, %v", n, err)
	}
}
