package fakeprovider

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func newTestServer(t *testing.T, o Options) (*Server, *httptest.Server) {
	t.Helper()
	fp := New(o)
	ts := httptest.NewServer(fp)
	t.Cleanup(ts.Close)
	return fp, ts
}

type resp struct {
	status int
	header http.Header
	body   string
	err    error // error reading the body
}

func do(t *testing.T, ctx context.Context, method, url, body string, header map[string]string) resp {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return resp{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: string(b), err: err}
}

func post(t *testing.T, url, body string, header map[string]string) resp {
	t.Helper()
	return do(t, context.Background(), http.MethodPost, url, body, header)
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var idCreated = regexp.MustCompile(`"id":"(chatcmpl-[a-z0-9]+)","object":"chat.completion(?:.chunk)?","created":([0-9]+),`)

// fill replaces ID and CREATED in want with the id and created of got.
func fill(t *testing.T, want, got string) string {
	t.Helper()
	m := idCreated.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("no id/created in %q", got)
	}
	return strings.NewReplacer("ID", m[1], "CREATED", m[2]).Replace(want)
}

// chatBody builds a chat request with one user message.
func chatBody(model, content, extra string) string {
	var b bytes.Buffer
	b.WriteString(`{"model":"` + model + `","messages":[{"role":"user","content":"` + content + `"}]`)
	if extra != "" {
		b.WriteString("," + extra)
	}
	b.WriteString("}")
	return b.String()
}
