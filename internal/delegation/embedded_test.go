package delegation

import (
	"github.com/antigravity/gateway/internal/jsonscan"
	"strings"
	"testing"
)

func TestParseEmbeddedFound(t *testing.T) {
	const q = `"`
	ids := func(u, a string) IDs { return IDs{UserOID: u, AppID: a} }
	cases := []struct {
		name    string
		content string
		ids     IDs
		message string
	}{
		{"A-1 bare (spec)", `"x_user_oid": "user-123", "x_app_id": "dify-prod", "message": "Hello!"`,
			ids("user-123", "dify-prod"), "Hello!"},
		{"A-2 full (spec)", `{"x_user_oid": "user-123", "x_app_id": "dify-prod", "message": "Hello!"}`,
			ids("user-123", "dify-prod"), "Hello!"},
		{"app first", `"x_app_id": "a", "x_user_oid": "u", "message": "m"`, ids("u", "a"), "m"},
		{"leading white space and newlines", "\n\n \t " + `"x_user_oid": "u", "x_app_id": "a", "message": "hi"`,
			ids("u", "a"), "hi"},
		{"leading ideographic space and BOM", "\u3000\uFEFF" + `{"x_user_oid": "u", "x_app_id": "a", "message": "hi"}`,
			ids("u", "a"), "hi"},
		{"extra white space everywhere", "{ \"x_user_oid\" :\t\"u\" ,\r\n  \"x_app_id\":\"a\",\n\n  \"message\"  :  \"hi\"  }\n  ",
			ids("u", "a"), "hi"},
		{"no spaces at all", `{"x_user_oid":"u","x_app_id":"a","message":"hi"}`, ids("u", "a"), "hi"},
		{"raw quotes in the message (Dify pastes unescaped)",
			`"x_user_oid": "u", "x_app_id": "a", "message": "He said "hi" and "bye""`, ids("u", "a"), `He said "hi" and "bye"`},
		{"raw newlines in the message", "\"x_user_oid\": \"u\", \"x_app_id\": \"a\", \"message\": \"line 1\nline 2\r\n\nline 4\"",
			ids("u", "a"), "line 1\nline 2\r\n\nline 4"},
		{"JSON escapes decoded", `"x_user_oid": "u", "x_app_id": "a", "message": "a\nb\t\"q\" \\ \/ \u3042"`,
			ids("u", "a"), "a\nb\t\"q\" \\ / あ"},
		{"raw Japanese", `"x_user_oid": "ユーザー", "x_app_id": "a", "message": "こんにちは、世界。「引用」です"`,
			ids("ユーザー", "a"), "こんにちは、世界。「引用」です"},
		{"Japanese as \\u escapes", `"x_user_oid": "u", "x_app_id": "a", "message": "\u3053\u3093\u306b\u3061\u306f"`,
			ids("u", "a"), "こんにちは"},
		{"surrogate pair", `"x_user_oid": "u", "x_app_id": "a", "message": "\ud83d\ude00!"`, ids("u", "a"), "😀!"},
		{"lone surrogate", `"x_user_oid": "u", "x_app_id": "a", "message": "\ud83dx"`, ids("u", "a"), "\uFFFDx"},
		{"invalid escapes kept verbatim", `"x_user_oid": "u", "x_app_id": "a", "message": "regex \d+ \x41 \u12"`,
			ids("u", "a"), `regex \d+ \x41 \u12`},
		{"escaped ids", `"x_user_oid": "\u0075ser-1", "x_app_id": "app\/1", "message": "m"`, ids("user-1", "app/1"), "m"},
		{"braces inside a bare message", `"x_user_oid": "u", "x_app_id": "a", "message": "use {x} and }"`,
			ids("u", "a"), "use {x} and }"},
		{"bare form with a stray closing brace", `"x_user_oid": "u", "x_app_id": "a", "message": "hi"}`, ids("u", "a"), "hi"},
		{"full form, message ends with a brace", `{"x_user_oid": "u", "x_app_id": "a", "message": "f() {}"}`,
			ids("u", "a"), "f() {}"},
		{"trailing white space inside the message kept", `"x_user_oid": "u", "x_app_id": "a", "message": "hi  "  `,
			ids("u", "a"), "hi  "},
		{"missing closing quote: runs to the end", `"x_user_oid": "u", "x_app_id": "a", "message": "hello there`,
			ids("u", "a"), "hello there"},
		{"empty message", `"x_user_oid": "u", "x_app_id": "a", "message": ""`, ids("u", "a"), ""},
		{"message key only, nothing after", `"x_user_oid": "u", "x_app_id": "a", "message": "`, ids("u", "a"), ""},
		{"other keys before the message", `{"x_user_oid": "u", "lang": "ja", "n": -3.5e2, "ok": true, "z": null, "x_app_id": "a", "message": "m"}`,
			ids("u", "a"), "m"},
		{"missing comma before message", `"x_user_oid": "u", "x_app_id": "a" "message": "m"`, ids("u", "a"), "m"},
		{"escaped message key", `"x_user_oid": "u", "x_app_id": "a", "messag\u0065": "m"`, ids("u", "a"), "m"},
		{"duplicate id after message is message text (spoof)",
			`"x_user_oid": "alice", "x_app_id": "app", "message": "hi", "x_user_oid": "victim", "x_app_id": "evil"`,
			ids("alice", "app"), `hi", "x_user_oid": "victim", "x_app_id": "evil`},
		{"end user types the spoof inside the message",
			`"x_user_oid": "alice", "x_app_id": "app", "message": "` + `hi", "x_user_oid": "victim` + q,
			ids("alice", "app"), `hi", "x_user_oid": "victim`},
		{"spoof with a second message key",
			`{"x_user_oid": "alice", "x_app_id": "app", "message": "x", "message": "y", "x_user_oid": "victim"}`,
			ids("alice", "app"), `x", "message": "y", "x_user_oid": "victim`},
		{"repeated id before the message: the first wins",
			`"x_user_oid": "first", "x_user_oid": "second", "x_app_id": "a", "x_app_id": "b", "message": "m"`,
			ids("first", "a"), "m"},
		{"half pair: user only", `"x_user_oid": "u", "message": "m"`, ids("u", ""), "m"},
		{"half pair: app only", `{"x_app_id": "a", "message": "m"}`, ids("", "a"), "m"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, msg, found, err := ParseEmbedded(c.content)
			if err != nil || !found {
				t.Fatalf("ParseEmbedded(%q): found %v err %v", c.content, found, err)
			}
			if got != c.ids || msg != c.message {
				t.Fatalf("ParseEmbedded(%q) = %+v %q, want %+v %q", c.content, got, msg, c.ids, c.message)
			}
		})
	}
}

func TestParseEmbeddedOrdinaryText(t *testing.T) {
	cases := []string{
		"",
		"   ",
		"Hello, how are you?",
		`"quoted text" is fine`,
		`"x_user_oidx": "u", "x_app_id": "a"`, // starts with another key
		`x_user_oid: "u", x_app_id: "a", message: "hi"`,
		`Please explain: "x_user_oid": "u", "x_app_id": "a", "message": "hi"`,
		`{"model": "gpt-4o", "temperature": 0.2}`,
		`{ function() { return 1 } }`,
		`{"message": "hi"}`,
		`{}`,
		`{`,
		`message: {"x_user_oid": "u"}`,
		"こんにちは",
	}
	for _, c := range cases {
		ids, msg, found, err := ParseEmbedded(c)
		if found || err != nil || ids != (IDs{}) || msg != "" {
			t.Errorf("ParseEmbedded(%q) = %+v %q found %v err %v, want ordinary text", c, ids, msg, found, err)
		}
	}
}

func TestParseEmbeddedErrors(t *testing.T) {
	cases := []struct {
		name    string
		content string
		param   string
		reason  string // a substring of the reason
	}{
		{"empty user", `"x_user_oid": "", "x_app_id": "a", "message": "m"`, "x_user_oid", "'x_user_oid' is empty"},
		{"blank app", `"x_user_oid": "u", "x_app_id": "  ", "message": "m"`, "x_app_id", "'x_app_id' is empty"},
		{"Dify placeholder", `"x_user_oid": "{{#sys.user_id#}}", "x_app_id": "a", "message": "m"`, "x_user_oid",
			"unresolved template '{{#sys.user_id#}}'"},
		{"Jinja placeholder", `{"x_user_oid": "u", "x_app_id": "{{ app }}", "message": "m"}`, "x_app_id",
			"unresolved template '{{ app }}'"},
		{"plain placeholder", `"x_user_oid": "{{user}}", "x_app_id": "a", "message": "m"`, "x_user_oid", "'{{user}}'"},
		{"half-eaten placeholder", `"x_user_oid": "#sys.user_id#}}", "x_app_id": "a", "message": "m"`, "x_user_oid",
			"unresolved template"},
		{"number id", `"x_user_oid": 123, "x_app_id": "a", "message": "m"`, "x_user_oid", "must be a quoted string"},
		{"null id", `{"x_user_oid": null, "x_app_id": "a", "message": "m"}`, "x_user_oid", "must be a quoted string"},
		{"no message key", `"x_user_oid": "u", "x_app_id": "a"`, "message", `no "message" field`},
		{"full form without message", `{"x_user_oid": "u", "x_app_id": "a"}`, "message", `no "message" field`},
		{"message not a string", `"x_user_oid": "u", "x_app_id": "a", "message": 5`, "message", "must be a quoted string"},
		{"message without colon", `"x_user_oid": "u", "x_app_id": "a", "message" "m"`, "message", "expected ':'"},
		{"missing comma between ids", `"x_user_oid": "u" "x_app_id": "a", "message": "m"`, "x_user_oid", "expected ','"},
		{"raw quote inside an id", `"x_user_oid": "a"b", "x_app_id": "a", "message": "m"`, "x_user_oid", "expected ','"},
		{"unterminated id", `"x_user_oid": "abc`, "x_user_oid", "not terminated"},
		{"missing colon", `"x_user_oid" "u", "x_app_id": "a", "message": "m"`, "x_user_oid", "expected ':'"},
		{"nested value before the ids", `{"meta": {"a": 1}, "x_user_oid": "u", "x_app_id": "a", "message": "m"}`, "",
			"could not be read"},
		{"ids after message (full form)", `{"message": "hi", "x_user_oid": "u", "x_app_id": "a"}`, "x_user_oid",
			`before "message"`},
		{"trailing comma", `"x_user_oid": "u", "x_app_id": "a",, "message": "m"`, "", "expected a quoted key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ids, msg, found, err := ParseEmbedded(c.content)
			ee, ok := err.(*EmbedError)
			if !ok || found || ids != (IDs{}) || msg != "" {
				t.Fatalf("ParseEmbedded(%q) = %+v %q found %v err %v, want an *EmbedError", c.content, ids, msg, found, err)
			}
			if ee.Param != c.param || !strings.Contains(ee.Reason, c.reason) {
				t.Fatalf("error = param %q reason %q, want param %q reason containing %q", ee.Param, ee.Reason, c.param, c.reason)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	cases := []struct{ in, want string }{
		{``, ``},
		{`plain`, `plain`},
		{`\"\\\/\b\f\n\r\t`, "\"\\/\b\f\n\r\t"},
		{`\u0041\u00e9\u3042`, "Aéあ"},
		{`\uD83D\uDE00`, "😀"},
		{`\ud83d`, "\uFFFD"},
		{`\ude00\ud83d\u0041`, "\uFFFD\uFFFDA"},
		{`\u12`, `\u12`},
		{`\u12zz`, `\u12zz`},
		{`\q\`, `\q\`},
		{`a\`, `a\`},
		{`\\n`, `\n`},
	}
	for _, c := range cases {
		if got := unescape(c.in); got != c.want {
			t.Errorf("unescape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestAppendQuoted(t *testing.T) {
	cases := []struct{ in, want string }{
		{``, `""`},
		{`a"b\c`, `"a\"b\\c"`},
		{"<&>\n\t\x01", `"<&>\n\t\u0001"`},
		{"あ😀", `"あ😀"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
		{"\u2028", `"\u2028"`},
	}
	for _, c := range cases {
		if got := string(jsonscan.AppendQuoted(nil, c.in)); got != c.want {
			t.Errorf("jsonscan.AppendQuoted(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}
