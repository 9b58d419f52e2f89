package delegation

import (
	"strconv"
	"strings"

	"github.com/antigravity/gateway/internal/jsonscan"
)

// Method A: the delegation pair embedded as JSON in the content of a user
// message (spec §3.1.1), for clients such as Dify's LLM node that control only
// message text:
//
//	A-1 (bare): "x_user_oid": "user-123", "x_app_id": "dify-prod", "message": "Hello!"
//	A-2 (full): {"x_user_oid": "user-123", "x_app_id": "dify-prod", "message": "Hello!"}
//
// Dify pastes template variables into that text without escaping them, so the
// content is usually not valid JSON: the message may hold raw quotes, raw
// newlines, Japanese text raw or \u-escaped. ParseEmbedded is therefore a
// hand-written scanner with these rules:
//
//   - It triggers only when the content starts (after white space) with '{' or
//     with "x_user_oid" / "x_app_id". Anything else is ordinary text. Content
//     that starts with '{' but names neither id before "message" is ordinary
//     text too (users paste JSON into chats).
//   - The ids are read only from the part before the first "message" key: the
//     first occurrence of the characters "message" (quotes included), or an
//     earlier key that decodes to message. Nothing after it is ever read for
//     ids, so an end user typing `hi", "x_user_oid": "victim` inside the message
//     cannot bill the victim. Within that part a repeated key never overrides
//     the first one.
//   - That part is a list of "key": value pairs separated by commas (a comma
//     before "message" may be missing). The ids must be quoted strings; other
//     keys may carry strings, numbers, true, false or null (not objects or
//     arrays), and are ignored.
//   - The message value runs from after `"message": "` to the last '"' of the
//     content, ignoring trailing white space and one optional closing '}'. Raw
//     quotes and newlines inside it are kept verbatim; JSON escapes (\n, \",
//     \u3042, …) are decoded; an invalid escape is kept verbatim. When the
//     closing quote is missing the message runs to the end of the content.
//   - An empty id, or one that is an unresolved template placeholder
//     ({{#sys.user_id#}}, {{user}}, {{ x }}), is an error (a 400).
//   - Ids without a "message" key are an error: rewriting the content to an
//     empty prompt silently would hide a broken template. An integrator who
//     wants no text writes "message": "".
//   - Content that starts with '{' and names the ids only after "message" is an
//     error as well ("put the ids before message"): they cannot be trusted there.

// EmbedError is malformed or invalid delegation JSON in message content.
type EmbedError struct {
	Param  string // the parameter at fault: x_user_oid, x_app_id, message, or ""
	Reason string // what was found and what to fix
}

func (e *EmbedError) Error() string { return e.Reason }

// messageKey is what ends the part of the content that ids are read from.
const messageKey = `"message"`

// ParseEmbedded looks for a delegation pair embedded in the content of a user
// message. found reports that the content is a delegation (ids holds what was
// given, possibly only one of the two, which the caller refuses as a half pair)
// and message is what the content must be rewritten to. When found is false the
// content is ordinary text and must be left alone. err is an *EmbedError.
func ParseEmbedded(content string) (ids IDs, message string, found bool, err error) {
	start := skipSpace(content, 0)
	rest := content[start:]
	full := strings.HasPrefix(rest, "{")
	if !full && !strings.HasPrefix(rest, `"`+ParamUserOID+`"`) && !strings.HasPrefix(rest, `"`+ParamAppID+`"`) {
		return IDs{}, "", false, nil
	}
	if full {
		start++
	}
	bound, bounded := len(content), false
	if k := strings.Index(content[start:], messageKey); k >= 0 {
		bound, bounded = start+k, true
	}
	p := prefixScan{s: content[:bound], pos: start, full: full, bounded: bounded}
	p.scan()
	switch {
	case p.err != nil && p.anyID:
		return IDs{}, "", false, p.err
	case p.err != nil || !p.anyID:
		// Ordinary text, unless it names the ids where they cannot be trusted.
		if mentionsID(content[:bound]) {
			return IDs{}, "", false, &EmbedError{Reason: "the content starts like delegation JSON and names " +
				ParamUserOID + " or " + ParamAppID + ", but could not be read (" + p.reason() + "). Use the form " +
				`"x_user_oid": "…", "x_app_id": "…", "message": "…"`}
		}
		if full && p.msgAt >= 0 && mentionsID(content[p.msgAt:]) {
			return IDs{}, "", false, &EmbedError{Param: ParamUserOID, Reason: "x_user_oid and x_app_id must come " +
				`before "message" (ids after the message are never read, since the message holds end-user text).`}
		}
		return IDs{}, "", false, nil
	}
	if p.msgAt < 0 {
		return IDs{}, "", false, &EmbedError{Param: "message", Reason: `the delegation JSON has no "message" field; ` +
			`end it with "message": "<the text for the model>" (an empty "message": "" is allowed).`}
	}
	msg, merr := messageValue(content, p.msgAt)
	if merr != nil {
		return IDs{}, "", false, merr
	}
	return p.ids, msg, true, nil
}

// mentionsID reports whether s names either id as a quoted key.
func mentionsID(s string) bool {
	return strings.Contains(s, `"`+ParamUserOID+`"`) || strings.Contains(s, `"`+ParamAppID+`"`)
}

// prefixScan reads the "key": value pairs before the message key. s ends at the
// first `"message"` (bounded) or at the end of the content, so nothing after
// that key can be read.
type prefixScan struct {
	s       string
	pos     int
	full    bool
	bounded bool
	ids     IDs
	seen    [2]bool // x_user_oid, x_app_id seen (the first occurrence wins)
	anyID   bool
	msgAt   int // index of the message key (-1: none)
	err     *EmbedError
}

func (p *prefixScan) reason() string {
	if p.err == nil {
		return "no ids"
	}
	return p.err.Reason
}

func (p *prefixScan) fail(param, reason string) {
	p.err = &EmbedError{Param: param, Reason: reason + " (at byte " + strconv.Itoa(p.pos) + " of the content)"}
}

func (p *prefixScan) scan() {
	p.msgAt = -1
	s := p.s
	for {
		p.pos = skipSpace(s, p.pos)
		if p.pos == len(s) {
			if p.bounded {
				p.msgAt = p.pos // the `"message"` the content was cut at
			}
			return
		}
		if s[p.pos] == '}' && p.full {
			return // the object closed without a message
		}
		if s[p.pos] != '"' {
			p.fail("", "expected a quoted key such as \""+ParamUserOID+"\", found "+quoteID(snippet(s[p.pos:])))
			return
		}
		end, ok := jsonscan.StringEnd(s, p.pos)
		if !ok {
			p.fail("", "a key is not terminated by '\"'")
			return
		}
		keyAt := p.pos
		key := unescape(s[p.pos+1 : end-1])
		p.pos = skipSpace(s, end)
		if key == "message" {
			p.msgAt = keyAt
			return
		}
		if keyParam(key) != "" {
			p.anyID = true
		}
		if p.pos == len(s) || s[p.pos] != ':' {
			p.fail(keyParam(key), "expected ':' after the key "+quoteID(key))
			return
		}
		p.pos = skipSpace(s, p.pos+1)
		if !p.value(key) {
			return
		}
		p.pos = skipSpace(s, p.pos)
		switch {
		case p.pos < len(s) && s[p.pos] == ',':
			p.pos++
		case p.pos == len(s), p.full && s[p.pos] == '}':
			// the message key (or the end, or the closing brace) follows
		default:
			p.fail(keyParam(key), "expected ',' after the value of "+quoteID(key)+", found "+quoteID(snippet(s[p.pos:])))
			return
		}
	}
}

// value reads the value of key at p.pos, recording the ids.
func (p *prefixScan) value(key string) bool {
	s := p.s
	idx := -1
	switch key {
	case ParamUserOID:
		idx = 0
	case ParamAppID:
		idx = 1
	}
	if p.pos == len(s) {
		p.fail(keyParam(key), "the key "+quoteID(key)+" has no value")
		return false
	}
	switch c := s[p.pos]; {
	case c == '"':
		end, ok := jsonscan.StringEnd(s, p.pos)
		if !ok {
			p.fail(keyParam(key), "the value of "+quoteID(key)+" is not terminated by '\"'")
			return false
		}
		v := unescape(s[p.pos+1 : end-1])
		p.pos = end
		if idx < 0 || p.seen[idx] {
			return true // another key, or a repeated id: ignored
		}
		p.seen[idx] = true
		if why := idProblem(key, v); why != "" {
			p.err = &EmbedError{Param: key, Reason: why}
			return false
		}
		if idx == 0 {
			p.ids.UserOID = v
		} else {
			p.ids.AppID = v
		}
		return true
	case idx >= 0:
		p.fail(key, "the value of "+quoteID(key)+" must be a quoted string, found "+quoteID(snippet(s[p.pos:])))
		return false
	case c == '{' || c == '[':
		p.fail("", "the value of "+quoteID(key)+" is an object or array; only strings, numbers, true, false "+
			"and null may come before \"message\"")
		return false
	default:
		end := p.pos
		for end < len(s) && jsonscan.IsScalarByte(s[end]) {
			end++
		}
		if end == p.pos {
			p.fail("", "the value of "+quoteID(key)+" is not valid, found "+quoteID(snippet(s[p.pos:])))
			return false
		}
		p.pos = end
		return true
	}
}

func keyParam(key string) string {
	if key == ParamUserOID || key == ParamAppID {
		return key
	}
	return ""
}

// snippet is the start of s for error messages.
func snippet(s string) string {
	const max = 20
	if len(s) <= max {
		return s
	}
	return s[:max]
}

// messageValue returns the decoded value of the message key at content[at].
func messageValue(content string, at int) (string, error) {
	end, ok := jsonscan.StringEnd(content, at)
	if !ok {
		return "", &EmbedError{Param: "message", Reason: `the "message" key is not terminated by '"'`}
	}
	i := skipSpace(content, end)
	if i == len(content) || content[i] != ':' {
		return "", &EmbedError{Param: "message", Reason: `expected ':' after "message", found ` +
			quoteID(snippet(content[i:]))}
	}
	i = skipSpace(content, i+1)
	if i == len(content) || content[i] != '"' {
		return "", &EmbedError{Param: "message", Reason: `the value of "message" must be a quoted string, found ` +
			quoteID(snippet(content[i:]))}
	}
	v := trimSpaceRight(content[i+1:])
	switch {
	case strings.HasSuffix(v, `"`):
		v = v[:len(v)-1]
	case strings.HasSuffix(v, "}"):
		if u := trimSpaceRight(v[:len(v)-1]); strings.HasSuffix(u, `"`) {
			v = u[:len(u)-1]
		}
	}
	return unescape(v), nil
}
