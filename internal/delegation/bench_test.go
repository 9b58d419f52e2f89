package delegation

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// difyBody builds a chat request of about size bytes shaped like what Dify's LLM
// node sends: a system prompt, some history, and a final user message whose
// content is the bare form A-1 (when delegated) with Japanese text escaped the
// way Python's json.dumps does (\uXXXX).
func difyBody(size int, delegated bool) []byte {
	jp := `\u3053\u3093\u306b\u3061\u306f\u3001\u4e16\u754c\u3002` // こんにちは、世界。
	filler := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteString("The quick brown fox jumps over the lazy dog. ")
			b.WriteString(jp)
			b.WriteString(" Line with \\\"quotes\\\" and a newline\\n. ")
		}
		return b.String()
	}
	head := `{"model":"gpt-4o","stream":true,"user":"dify-user","messages":[` +
		`{"role":"system","content":"` + filler(size/4) + `"},` +
		`{"role":"user","content":"earlier question"},{"role":"assistant","content":"` + filler(size/8) + `"},`
	text := filler(size - len(head) - 200)
	last := `{"role":"user","content":"` + text + `"}`
	if delegated {
		last = `{"role":"user","content":"\"x_user_oid\": \"user-123\", \"x_app_id\": \"dify-prod\", \"message\": \"` +
			text + `\""}`
	}
	return []byte(head + last + `]}`)
}

func benchRewrite(b *testing.B, size int) {
	for _, delegated := range []bool{true, false} {
		name := "plain"
		if delegated {
			name = "delegated"
		}
		body := difyBody(size, delegated)
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			b.Fatal(err)
		}
		messages := fields["messages"]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				rw, err := RewriteMessages(messages)
				if err != nil || rw.Found != delegated {
					b.Fatalf("found %v err %v", rw.Found, err)
				}
			}
		})
		// For scale: what the proxy already spends decoding the top level.
		b.Run(name+"/reference-top-level-decode", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var f map[string]json.RawMessage
				if err := json.Unmarshal(body, &f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRewriteMessages1KB(b *testing.B)   { benchRewrite(b, 1<<10) }
func BenchmarkRewriteMessages100KB(b *testing.B) { benchRewrite(b, 100<<10) }

// benchResolve measures the whole API-key route on a decoded body: reading the
// four places, rewriting messages and the (fake, in-memory) lookups.
func benchResolve(b *testing.B, size int) {
	body := difyBody(size, true)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		b.Fatal(err)
	}
	d := newFakeDir()
	d.users["user-123"] = d.users["alice"]
	d.apps["dify-prod"] = d.apps["app"]
	r := NewResolver(d, "")
	h := http.Header{"Content-Type": {"application/json"}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		f := make(map[string]json.RawMessage, len(fields))
		for k, v := range fields {
			f[k] = v
		}
		res, err := r.Resolve(context.Background(), Input{Principal: ownerKey, Query: url.Values{}, Fields: f, Header: h})
		if err != nil || res.Method != MethodMessage {
			b.Fatalf("%+v %v", res, err)
		}
	}
}

func BenchmarkResolve1KB(b *testing.B)   { benchResolve(b, 1<<10) }
func BenchmarkResolve100KB(b *testing.B) { benchResolve(b, 100<<10) }
