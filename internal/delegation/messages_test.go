package delegation

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/antigravity/gateway/internal/apierror"
)

// embed is the bare form a Dify LLM node sends, as JSON string content.
func embed(user, app, msg string) string {
	return jstr(`"x_user_oid": "` + user + `", "x_app_id": "` + app + `", "message": "` + msg + `"`)
}

// jstr quotes s as encoding/json does.
func jstr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestRewriteMessages(t *testing.T) {
	const img = `{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}`
	cases := []struct {
		name  string
		in    string
		want  string // "" : unchanged (the very same bytes)
		ids   IDs
		where string
	}{
		{"no delegation", `[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"}]`,
			"", IDs{}, ""},
		{"string content",
			`[{"role":"system","content":"Be brief."},{"role":"user","content":` + embed("u1", "app", "Hello!") + `}]`,
			`[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello!"}]`, IDs{"u1", "app"}, "messages[1].content"},
		{"full form with Python's \\u escapes",
			`[{"role": "user", "content": "{\"x_user_oid\": \"u1\", \"x_app_id\": \"app\", \"message\": \"\u3053\u3093\u306b\u3061\u306f\"}"}]`,
			`[{"role": "user", "content": "こんにちは"}]`, IDs{"u1", "app"}, "messages[0].content"},
		{"quotes escaped as \\u0022",
			`[{"role":"user","content":"\u0022x_user_oid\u0022: \u0022u1\u0022, \u0022x_app_id\u0022: \u0022app\u0022, \u0022message\u0022: \u0022hi\u0022"}]`,
			`[{"role":"user","content":"hi"}]`, IDs{"u1", "app"}, "messages[0].content"},
		{"multimodal, image first",
			`[{"role":"user","content":[` + img + `,{"type":"text","text":` + embed("u1", "app", "What is this?") + `}]}]`,
			`[{"role":"user","content":[` + img + `,{"type":"text","text":"What is this?"}]}]`, IDs{"u1", "app"},
			"messages[0].content[1].text"},
		{"multimodal, every text part scanned, the last decides",
			`[{"role":"user","content":[{"type":"text","text":` + embed("u1", "app", "a") + `},` + img +
				`,{"type":"text","text":"plain"},{"text":` + embed("u2", "app", "b") + `,"type":"text"}]}]`,
			`[{"role":"user","content":[{"type":"text","text":"a"},` + img +
				`,{"type":"text","text":"plain"},{"text":"b","type":"text"}]}]`, IDs{"u2", "app"},
			"messages[0].content[3].text"},
		{"several user messages: all rewritten, the last decides",
			`[{"role":"user","content":` + embed("u1", "app", "first") + `},{"role":"assistant","content":"ok"},` +
				`{"role":"user","content":` + embed("u2", "app2", "second") + `}]`,
			`[{"role":"user","content":"first"},{"role":"assistant","content":"ok"},{"role":"user","content":"second"}]`,
			IDs{"u2", "app2"}, "messages[2].content"},
		{"later plain user message does not reset the ids",
			`[{"role":"user","content":` + embed("u1", "app", "first") + `},{"role":"user","content":"plain"}]`,
			`[{"role":"user","content":"first"},{"role":"user","content":"plain"}]`, IDs{"u1", "app"}, "messages[0].content"},
		{"only user messages are scanned",
			`[{"role":"system","content":` + embed("s", "app", "sys") + `},{"role":"assistant","content":` +
				embed("a", "app", "as") + `},{"role":"tool","content":` + embed("t", "app", "t") + `}]`,
			"", IDs{}, ""},
		{"role after content, other fields kept",
			`[{"content":` + embed("u1", "app", "hi") + `,"name":"bob","role":"user"}]`,
			`[{"content":"hi","name":"bob","role":"user"}]`, IDs{"u1", "app"}, "messages[0].content"},
		{"repeated content key: the last one (what the provider reads) is used",
			`[{"role":"user","content":"plain","content":` + embed("u1", "app", "hi") + `}]`,
			`[{"role":"user","content":"plain","content":"hi"}]`, IDs{"u1", "app"}, "messages[0].content"},
		{"raw quote and newline in the message, HTML kept",
			`[{"role":"user","content":` + embed("u1", "app", "say \"<b>hi</b>\" &\nbye") + `}]`,
			`[{"role":"user","content":"say \"<b>hi</b>\" &\nbye"}]`, IDs{"u1", "app"}, "messages[0].content"},
		{"null, numeric and missing content left alone",
			`[{"role":"user","content":null},{"role":"user"},{"role":"user","content":5},"x",7]`, "", IDs{}, ""},
		{"half pair", `[{"role":"user","content":` + jstr(`"x_app_id": "app", "message": "m"`) + `}]`,
			`[{"role":"user","content":"m"}]`, IDs{"", "app"}, "messages[0].content"},
		{"not an array", `{"role":"user","content":` + embed("u1", "app", "hi") + `}`, "", IDs{}, ""},
		{"white space around the structure",
			" [ { \"role\" : \"user\" , \"content\" : " + embed("u1", "app", "hi") + " } ] ",
			" [ { \"role\" : \"user\" , \"content\" : \"hi\" } ] ", IDs{"u1", "app"}, "messages[0].content"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := json.RawMessage(c.in)
			rw, err := RewriteMessages(in)
			if err != nil {
				t.Fatalf("RewriteMessages: %v", err)
			}
			if c.want == "" {
				if rw.Changed || &rw.Messages[0] != &in[0] || rw.Found {
					t.Fatalf("changed %v found %v: %s", rw.Changed, rw.Found, rw.Messages)
				}
				return
			}
			if !rw.Changed || string(rw.Messages) != c.want {
				t.Fatalf("messages = %s (changed %v)\nwant       %s", rw.Messages, rw.Changed, c.want)
			}
			if !rw.Found || rw.IDs != c.ids || rw.Where != c.where {
				t.Fatalf("ids %+v found %v where %q, want %+v %q", rw.IDs, rw.Found, rw.Where, c.ids, c.where)
			}
			if !json.Valid(rw.Messages) {
				t.Fatalf("invalid JSON: %s", rw.Messages)
			}
		})
	}
}

func TestRewriteMessagesErrors(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		param string
		msg   string // substring of the message
	}{
		{"placeholder in the last message",
			`[{"role":"user","content":` + embed("{{#sys.user_id#}}", "app", "hi") + `}]`, "messages",
			"Delegation via message content (messages[0].content): 'x_user_oid' is the unresolved template '{{#sys.user_id#}}'"},
		{"error in the deciding part of a multimodal message",
			`[{"role":"user","content":[{"type":"text","text":` + embed("u", "", "hi") + `}]}]`, "messages",
			"(messages[0].content[0].text): 'x_app_id' is empty"},
		{"earlier good, last bad",
			`[{"role":"user","content":` + embed("u1", "app", "a") + `},{"role":"user","content":` +
				jstr(`"x_user_oid": "u", "x_app_id": "a"`) + `}]`, "messages", `(messages[1].content): the delegation JSON has no "message" field`},
		{"unreadable array", `[{"role":"user","content":"x_user_oid"`, "messages", "not valid JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := RewriteMessages(json.RawMessage(c.in))
			e, ok := err.(*apierror.Error)
			if !ok {
				t.Fatalf("err = %v, want an *apierror.Error", err)
			}
			if e.Status != http.StatusBadRequest || e.Code != CodeInvalid || e.Param != c.param || e.Retryable ||
				!strings.Contains(e.Message, c.msg) {
				t.Fatalf("error = %d %s %q %q, want 400 %s %q containing %q", e.Status, e.Code, e.Param, e.Message,
					CodeInvalid, c.param, c.msg)
			}
		})
	}
}

// An error in an earlier message is overridden by a later good one, whose ids
// decide; the bad text is left as it is.
func TestRewriteMessagesEarlierErrorOverridden(t *testing.T) {
	bad := embed("{{user}}", "app", "old")
	in := `[{"role":"user","content":` + bad + `},{"role":"user","content":` + embed("u1", "app", "new") + `}]`
	rw, err := RewriteMessages(json.RawMessage(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"role":"user","content":` + bad + `},{"role":"user","content":"new"}]`
	if string(rw.Messages) != want || rw.IDs != (IDs{"u1", "app"}) {
		t.Fatalf("messages %s ids %+v, want %s", rw.Messages, rw.IDs, want)
	}
}

// The rewritten array decodes to the input with only the user texts replaced.
func TestRewriteMessagesSemantic(t *testing.T) {
	in := `[{"role":"system","content":"S \u00e9"},{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}},` +
		`{"type":"text","text":` + embed("u1", "app", "日本語 \\u3042 \"q\"") + `}],"name":"n"},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":[1,{\"b\":\"]\"}]}"}}]}]`
	rw, err := RewriteMessages(json.RawMessage(in))
	if err != nil {
		t.Fatal(err)
	}
	var got, want []map[string]any
	if err := json.Unmarshal(rw.Messages, &got); err != nil {
		t.Fatalf("output %s: %v", rw.Messages, err)
	}
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatal(err)
	}
	want[1]["content"].([]any)[1].(map[string]any)["text"] = "日本語 あ \"q\""
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded output\n%v\nwant\n%v", got, want)
	}
	if !bytes.HasPrefix(rw.Messages, []byte(`[{"role":"system","content":"S \u00e9"}`)) {
		t.Fatalf("untouched message re-encoded: %s", rw.Messages)
	}
}

func TestMayTrigger(t *testing.T) {
	cases := []struct {
		raw  string // a JSON string, quotes included
		want bool
	}{
		{`""`, false},
		{`"Hello"`, false},
		{`"{"`, true},
		{`"\"x_user_oid\""`, true},
		{`"  \n\t\r\f {"`, true},
		{`"\n\n\"x"`, true},
		{`"\u0020\u3000\ufeff\u007b"`, true},
		{`"\u0022x"`, true},
		{`"\u3042{"`, false},
		{"\"\u3000\u00a0{\"", true},
		{"\"あ{\"", false},
		{`"\\{"`, false},
		{`"\/"`, false},
		{`"   "`, false},
	}
	for _, c := range cases {
		if got := mayTrigger(c.raw); got != c.want {
			t.Errorf("mayTrigger(%s) = %v, want %v", c.raw, got, c.want)
		}
		// Whatever mayTrigger skips, ParseEmbedded would leave alone.
		var s string
		if err := json.Unmarshal([]byte(c.raw), &s); err != nil {
			t.Fatalf("%s: %v", c.raw, err)
		}
		if st := strings.TrimLeft(s, " \t\n\r\f\v\u3000\u00a0\ufeff"); !c.want && (strings.HasPrefix(st, "{") || strings.HasPrefix(st, `"`)) {
			t.Errorf("mayTrigger(%s) = false for text starting with %q", c.raw, st)
		}
	}
}
