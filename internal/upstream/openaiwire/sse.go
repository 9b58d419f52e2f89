package openaiwire

import (
	"bufio"
	"bytes"
	"io"
)

// SSEEvent is one server-sent event.
type SSEEvent struct {
	Name string // the event: field, if any
	Data []byte // the data: lines, joined by newlines
}

// SSEReader reads server-sent events; it accepts LF and CRLF line endings and
// skips comments, id: and retry: fields.
type SSEReader struct {
	br *bufio.Reader
}

// NewSSEReader returns a reader of the events in r.
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{br: bufio.NewReaderSize(r, 32<<10)}
}

// Next returns the next event with data. At the end of the input it returns
// io.EOF, after the last event even if no blank line ended it.
func (r *SSEReader) Next() (SSEEvent, error) {
	var ev SSEEvent
	hasData := false
	for {
		line, err := r.br.ReadBytes('\n')
		if len(line) > 0 || err == nil {
			line = bytes.TrimRight(line, "\r\n")
			switch {
			case len(line) == 0:
				if hasData {
					return ev, nil
				}
				ev.Name = ""
			case line[0] == ':':
			default:
				field, value, _ := bytes.Cut(line, []byte(":"))
				value = bytes.TrimPrefix(value, []byte(" "))
				switch string(field) {
				case "event":
					ev.Name = string(value)
				case "data":
					if hasData {
						ev.Data = append(ev.Data, '\n')
					}
					ev.Data, hasData = append(ev.Data, value...), true
				}
			}
		}
		if err != nil {
			if hasData && err == io.EOF {
				return ev, nil
			}
			return SSEEvent{}, err
		}
	}
}

// WriteEvent appends the server-sent event "data: DATA" and its blank line.
func WriteEvent(w *bytes.Buffer, data []byte) {
	w.WriteString("data: ")
	w.Write(data)
	w.WriteString("\n\n")
}
