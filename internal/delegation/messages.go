package delegation

import (
	"encoding/json"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/antigravity/gateway/internal/jsonscan"
)

// Rewrite is the outcome of scanning a request's messages for method A.
type Rewrite struct {
	// Messages is the messages array to send upstream: the input itself when
	// nothing changed.
	Messages json.RawMessage
	// IDs are those of the last user text that carried delegation JSON (either
	// id may be missing: the caller refuses a half pair). Zero when !Found.
	IDs   IDs
	Found bool
	// Where locates that text, e.g. "messages[3].content[1].text".
	Where string
	// Changed reports that Messages differs from the input.
	Changed bool
}

// RewriteMessages applies method A to a chat request's messages array: the
// content of every message with role "user" (a string, or a list whose
// {"type":"text","text":…} parts are each scanned; other parts such as images
// are left alone) that holds delegation JSON is rewritten to its "message"
// value. The last such text decides the ids. An error in the deciding text is
// returned (a 400 naming the message); an error in an earlier text leaves that
// text as it is, since a later one overrides it anyway.
//
// The array is scanned once, without decoding anything but the roles, the
// leading white space of user texts, and the user texts that start with '{' or
// '"' (the only ones that can hold delegation JSON); the result is spliced
// from the input, so other messages keep their bytes. messages is expected to
// be valid JSON (the proxy decoded it already); anything that is not an array
// is returned unchanged.
func RewriteMessages(messages json.RawMessage) (Rewrite, error) {
	out := Rewrite{Messages: messages}
	w := msgWalk{s: string(messages)}
	if err := w.walk(); err != nil {
		return out, err
	}
	if w.decided == nil {
		return out, nil
	}
	if w.decided.err != nil {
		return out, invalid("messages", prefix(MethodMessage, w.decided.where)+w.decided.err.Reason)
	}
	out.IDs, out.Found, out.Where = w.decided.ids, true, w.decided.where
	if len(w.edits) > 0 {
		out.Messages, out.Changed = w.splice(), true
	}
	return out, nil
}

// mayTrigger reports whether a JSON string (quotes included) decodes to text
// ParseEmbedded may act on: after white space, a '{' or a '"'. It decodes only
// the leading white space, so ordinary text costs next to nothing however long
// it is.
func mayTrigger(raw string) bool {
	s := raw[1 : len(raw)-1]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			switch s[i+1] {
			case 'n', 't', 'r', 'f':
				i += 2
				continue
			case '"':
				return true
			case 'u':
				r, n := decodeU(s[i:])
				if n > 0 && (r == '\uFEFF' || unicode.IsSpace(r)) {
					i += n
					continue
				}
				return n > 0 && (r == '{' || r == '"')
			}
			return false
		case c < utf8.RuneSelf:
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' {
				i++
				continue
			}
			return c == '{'
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != '\uFEFF' && !unicode.IsSpace(r) {
				return false
			}
			i += n
		}
	}
	return false
}

// edit replaces s[start:end] (a JSON string) with the quoted text.
type edit struct {
	start, end int
	text       string
}

// hit is a user text that carried delegation JSON.
type hit struct {
	ids   IDs
	err   *EmbedError
	where string
}

// msgWalk scans a messages array.
type msgWalk struct {
	s       string
	edits   []edit
	decided *hit
}

// errMessages is returned for an array the scanner cannot read (not valid JSON).
func errMessages(at int) error {
	return invalid("messages", "Invalid 'messages': the array is not valid JSON near byte "+strconv.Itoa(at)+".")
}

func (w *msgWalk) walk() error {
	s := w.s
	i := jsonscan.SkipSpace(s, 0)
	if i == len(s) || s[i] != '[' {
		return nil
	}
	return eachElement(s, i, func(n, at, end int) error {
		if s[at] != '{' {
			return nil
		}
		f := objectFields(s, at, end, "role", "content")
		if f.spans[0].start < 0 || f.spans[1].start < 0 || !isString(s, f.spans[0]) {
			return nil
		}
		if r := f.spans[0]; unescape(s[r.start+1:r.end-1]) != "user" {
			return nil
		}
		c := f.spans[1]
		where := "messages[" + strconv.Itoa(n) + "].content"
		switch s[c.start] {
		case '"':
			w.text(c, where)
		case '[':
			return eachElement(s, c.start, func(k, pat, pend int) error {
				if s[pat] != '{' {
					return nil
				}
				pf := objectFields(s, pat, pend, "type", "text")
				t, x := pf.spans[0], pf.spans[1]
				if t.start < 0 || x.start < 0 || !isString(s, t) || !isString(s, x) ||
					unescape(s[t.start+1:t.end-1]) != "text" {
					return nil
				}
				w.text(x, where+"["+strconv.Itoa(k)+"].text")
				return nil
			})
		}
		return nil
	})
}

// text handles one user text (the JSON string at sp).
func (w *msgWalk) text(sp span, where string) {
	raw := w.s[sp.start:sp.end]
	if !mayTrigger(raw) {
		return
	}
	ids, msg, found, err := ParseEmbedded(unescape(raw[1 : len(raw)-1]))
	switch {
	case err != nil:
		ee, _ := err.(*EmbedError)
		if ee == nil {
			ee = &EmbedError{Reason: err.Error()}
		}
		w.decided = &hit{err: ee, where: where}
	case found:
		w.decided = &hit{ids: ids, where: where}
		w.edits = append(w.edits, edit{start: sp.start, end: sp.end, text: msg})
	}
}

// splice returns the array with every edit applied.
func (w *msgWalk) splice() json.RawMessage {
	grow := 0
	for _, e := range w.edits {
		grow += len(e.text) + 8 - (e.end - e.start)
	}
	buf := make([]byte, 0, len(w.s)+max(grow, 0))
	prev := 0
	for _, e := range w.edits {
		buf = append(buf, w.s[prev:e.start]...)
		buf = jsonscan.AppendQuoted(buf, e.text)
		prev = e.end
	}
	return append(buf, w.s[prev:]...)
}
