package anthropic

import (
	"bytes"
	"github.com/antigravity/gateway/internal/upstream/openaiwire/wiretest"
	"io"
	"testing"
	"testing/iotest"
)

func TestStreamGolden(t *testing.T) {
	for _, name := range []string{"stream_text", "stream_tool", "stream_error", "stream_cut", "stream_max_tokens"} {
		t.Run(name, func(t *testing.T) {
			in := readTestdata(t, name+".sse")
			got, err := io.ReadAll(newStream(bytes.NewReader(in), "my-claude", fixedNow))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name, got)
			// Reading a byte at a time gives the same text.
			one, err := io.ReadAll(iotest.OneByteReader(newStream(iotest.OneByteReader(bytes.NewReader(in)), "my-claude", fixedNow)))
			if err != nil || !bytes.Equal(one, got) {
				t.Errorf("byte-wise read differs (err %v):\n%s", err, one)
			}
		})
	}
}

// TestStreamContract: read errors, invalid events and Close behave as for
// every translated stream.
func TestStreamContract(t *testing.T) {
	wiretest.StreamContract(t, Stream, wiretest.StreamInputs{
		FirstEvent: "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n",
		WantPrefix: `data: {"id":"m","object":"chat.completion.chunk",`,
		Invalid:    "event: message_start\ndata: {oops\n\n",
		Idle:       "event: ping\ndata: {\"type\":\"ping\"}\n\n",
	})
}
