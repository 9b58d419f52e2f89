package gemini

import (
	"bufio"
	"bytes"
	"io"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	name string // the event: field, if any
	data []byte // the data: lines, joined by newlines
}

// sseReader reads server-sent events; it accepts LF and CRLF line endings and
// skips comments, id: and retry: fields.
type sseReader struct {
	br *bufio.Reader
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{br: bufio.NewReaderSize(r, 32<<10)}
}

// next returns the next event with data. At the end of the input it returns
// io.EOF, after the last event even if no blank line ended it.
func (r *sseReader) next() (sseEvent, error) {
	var ev sseEvent
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
				ev.name = ""
			case line[0] == ':':
			default:
				field, value, _ := bytes.Cut(line, []byte(":"))
				value = bytes.TrimPrefix(value, []byte(" "))
				switch string(field) {
				case "event":
					ev.name = string(value)
				case "data":
					if hasData {
						ev.data = append(ev.data, '\n')
					}
					ev.data, hasData = append(ev.data, value...), true
				}
			}
		}
		if err != nil {
			if hasData && err == io.EOF {
				return ev, nil
			}
			return sseEvent{}, err
		}
	}
}
