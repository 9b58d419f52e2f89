package delegation

import (
	"encoding/json"
	"fmt"
	"github.com/antigravity/gateway/internal/jsonscan"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// spoof is what a malicious end user types inside the message.
const spoof = `hi", "x_user_oid": "VICTIM", "x_app_id": "VICTIMAPP", "message": "x`

// FuzzParseEmbedded checks ParseEmbedded never panics and never takes ids from
// after "message": for a template prefix and any end-user text placed in the
// message, the ids (and whether the content is a delegation at all) are those
// of the same prefix with the spoofing text instead.
func FuzzParseEmbedded(f *testing.F) {
	seeds := [][2]string{
		{`"x_user_oid": "u", "x_app_id": "a", `, "Hello!"},
		{`{"x_user_oid": "u", "x_app_id": "a", `, `He said "hi"` + "\n"},
		{`{"x_app_id": "a", "x_user_oid": "u", `, `", "x_user_oid": "victim`},
		{`"x_user_oid": "u", `, `\u3042\"`},
		{`"x_user_oid": "{{#sys.user_id#}}", "x_app_id": "a", `, ""},
		{`{"message": "`, `", "x_user_oid": "victim", "x_app_id": "a`},
		{`"x_app_id": "a", "k": "\`, `", "x_user_oid": "VICTIM", "message": "hi`},
		{`"x_app_id": "a", "\`, `x", "x_user_oid": "VICTIM", "message": "hi`},
		{`{"x_app_id": "a", "k": {`, `x"}, "x_user_oid": "VICTIM", "message": "hi`},
		{" \u3000{", "}"},
		{"", ""},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, prefix, text string) {
		const m = `"message": "`
		ids1, msg1, found1, err1 := ParseEmbedded(prefix + m + text + `"`)
		ids2, _, found2, err2 := ParseEmbedded(prefix + m + spoof + `"`)
		if found1 != found2 {
			t.Fatalf("found depends on the message text: %v (%v) vs %v (%v)", found1, err1, found2, err2)
		}
		if ids1 != ids2 {
			t.Fatalf("ids depend on the message text: %+v vs %+v", ids1, ids2)
		}
		if !strings.Contains(prefix, "VICTIM") && !strings.Contains(prefix, `\`) &&
			(strings.Contains(ids2.UserOID, "VICTIM") || strings.Contains(ids2.AppID, "VICTIM")) {
			t.Fatalf("ids taken from after message: %+v", ids2)
		}
		if found1 && (ids1.Empty() || err1 != nil) {
			t.Fatalf("found with ids %+v err %v", ids1, err1)
		}
		if !found1 && (msg1 != "" || !ids1.Empty()) {
			t.Fatalf("not found but returned %+v %q", ids1, msg1)
		}
		if err1 != nil {
			if _, ok := err1.(*EmbedError); !ok {
				t.Fatalf("error %T, want *EmbedError", err1)
			}
		}
	})
}

// FuzzParseEmbeddedAny feeds arbitrary content: no panic, consistent results.
func FuzzParseEmbeddedAny(f *testing.F) {
	for _, s := range []string{
		`"x_user_oid": "u", "x_app_id": "a", "message": "hi"`,
		`{"x_user_oid":"u","x_app_id":"a","message":"hi"}`,
		`{"x_user_oid":"u","x_app_id":"a","messag\u0065":"hi"}`,
		`"x_app_id": "\ud800", "x_user_oid": "\`,
		`{`, `"x_user_oid"`, `{"message"`, "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		ids, msg, found, err := ParseEmbedded(content)
		if found && (err != nil || ids.Empty()) || !found && (msg != "" || !ids.Empty()) {
			t.Fatalf("inconsistent: %+v %q %v %v", ids, msg, found, err)
		}
		// The ids come from before the first "message".
		if k := strings.Index(content, messageKey); found && k >= 0 {
			before := content[:k]
			for _, id := range []string{ids.UserOID, ids.AppID} {
				if id != "" && !strings.Contains(before, id) && !strings.Contains(before, `\`) {
					t.Fatalf("id %q not from the part before message %q", id, before)
				}
			}
		}
	})
}

// FuzzRewriteMessages checks the messages scanner never panics and keeps valid
// JSON valid.
func FuzzRewriteMessages(f *testing.F) {
	f.Add(`[{"role":"user","content":` + embed("u", "a", "hi") + `}]`)
	f.Add(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":` + embed("u", "a", "hi") + `}]}]`)
	f.Add(`[{"role":"user","content":"\u0022x_user_oid\u0022: \u0022u\u0022, \u0022message\u0022: \u0022\u0022"}]`)
	f.Add(`[{"role":"user","content":"x_user_oid`)
	f.Add(`[1,"x_app_id",{"role":"user"}]`)
	f.Fuzz(func(t *testing.T, raw string) {
		rw, err := RewriteMessages(json.RawMessage(raw))
		if err != nil {
			return
		}
		if !rw.Changed && string(rw.Messages) != raw {
			t.Fatalf("unchanged but different: %s", rw.Messages)
		}
		if rw.Changed && json.Valid([]byte(raw)) && !json.Valid(rw.Messages) {
			t.Fatalf("valid input %s became invalid %s", raw, rw.Messages)
		}
	})
}

// FuzzUnescape checks unescape agrees with encoding/json on valid JSON strings.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`plain`, `\"\\\/\b\f\n\r\t`, `\u3042\ud83d\ude00`, `\ud800\u0041`, `\udc00`, `a\u00e9b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var want string
		if !utf8.ValidString(body) || json.Unmarshal([]byte(`"`+body+`"`), &want) != nil {
			_ = unescape(body) // must not panic
			return
		}
		if got := unescape(body); got != want {
			t.Fatalf("unescape(%q) = %q, encoding/json says %q", body, got, want)
		}
		// appendQuoted round-trips through encoding/json.
		var back string
		if err := json.Unmarshal(jsonscan.AppendQuoted(nil, want), &back); err != nil || back != want {
			t.Fatalf("jsonscan.AppendQuoted(%q) = %s: %q %v", want, jsonscan.AppendQuoted(nil, want), back, err)
		}
	})
}

// FuzzMayTrigger checks the messages scanner's shortcut: a text it skips is one
// ParseEmbedded leaves alone.
func FuzzMayTrigger(f *testing.F) {
	for _, s := range []string{"Hello", " {", "\u3000\"x_user_oid\": \"u\", \"x_app_id\": \"a\", \"message\": \"m\"", "\ufeff\n{", "\u00a0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, raw := range []string{string(jsonscan.AppendQuoted(nil, s)), asciiQuoted(s)} {
			if mayTrigger(raw) {
				continue
			}
			if _, _, found, err := ParseEmbedded(unescape(raw[1 : len(raw)-1])); found || err != nil {
				t.Fatalf("mayTrigger(%s) = false, but ParseEmbedded found %v err %v", raw, found, err)
			}
		}
	})
}

// asciiQuoted quotes s escaping every non-ASCII character as \uXXXX, the way
// Python's json.dumps does by default.
func asciiQuoted(s string) string {
	b, _ := json.Marshal(s)
	var out strings.Builder
	for _, r := range string(b) {
		if r < utf8.RuneSelf {
			out.WriteRune(r)
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&out, `\u%04x`, u)
		}
	}
	return out.String()
}
