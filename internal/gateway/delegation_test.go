package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/antigravity/gateway/internal/fakeprovider"
)

const sharedSecret = "shared-secret-0123456789"

// TestDelegation: the four ways to name the billed user, through openai-go and
// raw Dify-shaped HTTP; the provider sees clean content and no x_ fields, and
// the usage row names the right user, app and method.
func TestDelegation(t *testing.T) {
	forEachMode(t, testDelegation)
}

func testDelegation(t *testing.T, env map[string]string) {
	if env == nil {
		env = map[string]string{}
	}
	env["GATEWAY_SHARED_SECRET"] = sharedSecret
	fake, fakeURL := newFake(t, fakeprovider.Options{})
	in := newInstance(t, env)
	in.addModel("gpt-4o", fakeURL, "")
	ownerKey := in.addUserKey("owner")
	otherKey := in.addUserKey("other")
	in.mustAdmin(201, "POST", "/admin/api/users", map[string]any{"oid": "user-123", "email": "u123@example.com"}, nil)
	in.mustAdmin(201, "POST", "/admin/api/apps?owner_id=owner", map[string]any{"app_id": "dify-prod", "name": "Dify prod"}, nil)
	ctx := context.Background()
	c := in.client(ownerKey)

	// checkClean asserts what the provider received last.
	checkClean := func(t *testing.T, wantContent string) {
		t.Helper()
		reqs := fake.Requests()
		last := reqs[len(reqs)-1]
		var top map[string]json.RawMessage
		_ = json.Unmarshal(last.Body, &top)
		_, u := top["x_user_oid"]
		_, a := top["x_app_id"]
		if strings.Contains(last.RawQuery, "x_") || u || a || last.Header.Get("X-User-Oid") != "" {
			t.Fatalf("delegation leaked upstream: query %q body %s", last.RawQuery, last.Body)
		}
		if wantContent != "" && wantContent[0] != '!' && bytes.Contains(last.Body, []byte(`\"x_app_id\"`)) {
			t.Fatalf("embedded ids not removed from the content: %s", last.Body)
		}
		wantContent = strings.TrimPrefix(wantContent, "!")
		var body struct {
			Messages []struct {
				Content json.RawMessage `json:"content"`
			} `json:"messages"`
			User string `json:"user"`
		}
		_ = json.Unmarshal(last.Body, &body)
		got := string(body.Messages[len(body.Messages)-1].Content)
		if !strings.Contains(got, wantContent) {
			t.Fatalf("provider saw content %s, want %q", got, wantContent)
		}
	}
	checkRow := func(t *testing.T, resp *http.Response, user, app, method string, keyed bool) {
		t.Helper()
		row := in.usageRow(resp.Header.Get("x-request-id"))
		gotApp := ""
		if row.AppID != nil {
			gotApp = *row.AppID
		}
		if row.UserOID != user || gotApp != app || row.DelegationMethod != method || (row.KeyID != nil) != keyed {
			t.Fatalf("row user=%s app=%s method=%s key=%v; want %s %s %s keyed=%v", row.UserOID, gotApp, row.DelegationMethod, row.KeyID, user, app, method, keyed)
		}
	}

	t.Run("openai-go query", func(t *testing.T) {
		var resp *http.Response
		_, err := c.Chat.Completions.New(ctx, chatParams("gpt-4o", "Hello"), option.WithQuery("x_user_oid", "user-123"), option.WithQuery("x_app_id", "dify-prod"), option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		checkClean(t, "Hello")
		checkRow(t, resp, "user-123", "dify-prod", "query", true)
	})
	t.Run("openai-go extra body fields", func(t *testing.T) {
		p := chatParams("gpt-4o", "Hello body")
		p.User = openai.String("end-user-label")
		p.SetExtraFields(map[string]any{"x_user_oid": "user-123", "x_app_id": "dify-prod"})
		var resp *http.Response
		if _, err := c.Chat.Completions.New(ctx, p, option.WithResponseInto(&resp)); err != nil {
			t.Fatal(err)
		}
		checkClean(t, "Hello body")
		last := fake.Requests()[len(fake.Requests())-1]
		if !bytes.Contains(last.Body, []byte(`"user":"end-user-label"`)) {
			t.Fatalf("top-level user field not passed through: %s", last.Body)
		}
		checkRow(t, resp, "user-123", "dify-prod", "body", true)
	})
	t.Run("openai-go headers", func(t *testing.T) {
		var resp *http.Response
		_, err := c.Chat.Completions.New(ctx, chatParams("gpt-4o", "Hi hdr"), option.WithHeader("X-User-Oid", "user-123"), option.WithHeader("X-App-Id", "dify-prod"), option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		checkRow(t, resp, "user-123", "dify-prod", "header", true)
	})
	t.Run("no delegation bills the key owner", func(t *testing.T) {
		var resp *http.Response
		if _, err := c.Chat.Completions.New(ctx, chatParams("gpt-4o", "title please"), option.WithResponseInto(&resp)); err != nil {
			t.Fatal(err)
		}
		checkRow(t, resp, "owner", "", "key", true)
	})

	raw := func(t *testing.T, path, key string, hdr map[string]string, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", in.srv.URL+path, strings.NewReader(body))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	difyBare := `{"model":"gpt-4o","messages":[{"role":"user","content":"\"x_user_oid\": \"user-123\", \"x_app_id\": \"dify-prod\", \"message\": \"こんにちは \"quoted\"\nnext line\""}]}`
	difyFull := `{"model":"gpt-4o","messages":[{"role":"user","content":"{\"x_user_oid\": \"user-123\", \"x_app_id\": \"dify-prod\", \"message\": \"Hello!\"}"}]}`
	difyImage := `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},{"type":"text","text":"  \"x_user_oid\": \"user-123\", \"x_app_id\": \"dify-prod\", \"message\": \"describe\""}]}]}`
	spoof := `{"model":"gpt-4o","messages":[{"role":"user","content":"\"x_user_oid\": \"user-123\", \"x_app_id\": \"dify-prod\", \"message\": \"hi\", \"x_user_oid\": \"victim\""}]}`
	for _, tc := range []struct {
		name, path, body, content, method string
	}{
		{"Dify LLM node bare A-1 with raw quote, newline, Japanese", "/v1/chat/completions", difyBare, `こんにちは \"quoted\"\nnext line`, "message"},
		{"Dify full A-2", "/v1/chat/completions", difyFull, "Hello!", "message"},
		{"multimodal with an image first", "/v1/chat/completions", difyImage, "describe", "message"},
		{"duplicate-key spoof bills the first id", "/v1/chat/completions", spoof, `!hi\", \"x_user_oid\": \"victim`, "message"},
		{"Dify HTTP node: query on a URL without /v1", "/chat/completions?x_app_id=dify-prod&x_user_oid=user-123", `{"model":"gpt-4o","messages":[{"role":"user","content":"q"}]}`, "q", "query"},
		{"SDK-mangled base URL", "/v1?x_app_id=dify-prod&x_user_oid=user-123/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"m"}]}`, "m", "query"},
		{"node 6 encoded suffix", "/v1?x_app_id=dify-prod&x_user_oid=user-123%2Fchat%2Fcompletions", `{"model":"gpt-4o","messages":[{"role":"user","content":"n"}]}`, "n", "query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := raw(t, tc.path, ownerKey, nil, tc.body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			checkClean(t, tc.content)
			checkRow(t, resp, "user-123", "dify-prod", tc.method, true)
		})
	}

	for _, tc := range []struct {
		name   string
		key    string
		hdr    map[string]string
		body   string
		status int
		code   string
	}{
		{"half pair in the query", ownerKey, nil, `{"model":"gpt-4o","x_app_id":"dify-prod","messages":[{"role":"user","content":"x"}]}`, 401, ""},
		{"unknown user", ownerKey, map[string]string{"X-User-Oid": "ghost", "X-App-Id": "dify-prod"}, `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, 403, ""},
		{"unknown app", ownerKey, map[string]string{"X-User-Oid": "user-123", "X-App-Id": "nope"}, `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, 403, ""},
		{"key of someone else may not bill through the app", otherKey, map[string]string{"X-User-Oid": "user-123", "X-App-Id": "dify-prod"}, `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, 403, "app_not_owned"},
		{"unresolved template", ownerKey, nil, `{"model":"gpt-4o","messages":[{"role":"user","content":"\"x_user_oid\": \"{{#sys.user_id#}}\", \"x_app_id\": \"dify-prod\", \"message\": \"x\""}]}`, 400, ""},
		{"shared secret: wrong secret", "", map[string]string{"X-Gateway-Secret": "wrong-secret-xxxxxxxx", "X-App-Id": "dify-prod", "X-User-Oid": "user-123"}, `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, 401, ""},
		{"shared secret: missing app", "", map[string]string{"X-Gateway-Secret": sharedSecret, "X-User-Oid": "user-123"}, `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, 401, ""},
		{"shared secret: missing user", "", map[string]string{"X-Gateway-Secret": sharedSecret, "X-App-Id": "dify-prod"}, `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, 401, ""},
		{"shared secret: unknown user", "", map[string]string{"X-Gateway-Secret": sharedSecret, "X-App-Id": "dify-prod", "X-User-Oid": "ghost"}, `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := raw(t, "/v1/chat/completions", tc.key, tc.hdr, tc.body)
			if resp.StatusCode != tc.status || resp.Header.Get("x-should-retry") != "false" {
				t.Fatalf("status %d (x-should-retry %q): %s", resp.StatusCode, resp.Header.Get("x-should-retry"), body)
			}
			var e struct {
				Error struct{ Code, Message string }
			}
			_ = json.Unmarshal([]byte(body), &e)
			if e.Error.Message == "" || (tc.code != "" && e.Error.Code != tc.code) {
				t.Fatalf("error body %s", body)
			}
		})
	}

	t.Run("shared secret route bills the user, tags the app, no key", func(t *testing.T) {
		resp, body := raw(t, "/v1/chat/completions", "", map[string]string{"X-Gateway-Secret": sharedSecret, "X-App-Id": "dify-prod", "X-User-Oid": "user-123"},
			`{"model":"gpt-4o","messages":[{"role":"user","content":"from the web app"}]}`)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		checkRow(t, resp, "user-123", "dify-prod", "shared_secret", false)
	})

	t.Run("disabled app is refused", func(t *testing.T) {
		in.mustAdmin(200, "PATCH", "/admin/api/apps/dify-prod/toggle", nil, nil)
		_, err := c.Chat.Completions.New(ctx, chatParams("gpt-4o", "x"), option.WithHeader("X-User-Oid", "user-123"), option.WithHeader("X-App-Id", "dify-prod"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 {
			t.Fatalf("err = %v", err)
		}
	})
}
