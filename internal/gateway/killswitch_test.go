package gateway

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/fakeprovider"
)

// TestKillSwitchAcrossReplicas: a user switch set on replica A cuts the user's
// stream on replica B within a second (with a final kill_switch error event)
// and blocks their next requests there, with the reason; lifting it on A lets
// them in again on B. A model switch blocks the model everywhere.
func TestKillSwitchAcrossReplicas(t *testing.T) {
	env := productionEnv(t)
	_, fakeURL := newFake(t, fakeprovider.Options{TokenLatency: 50 * time.Millisecond, ReplyTokens: 200})
	a := newInstance(t, env)
	b := newInstance(t, env)
	a.addModel("m", fakeURL, "")
	b.reload()
	user := uniqueOID("abuser")
	key := a.addUserKey(user)
	ctx := context.Background()

	// The slow stream (200 words, 50ms apart: 10s) on B.
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	defer scancel()
	req, _ := http.NewRequestWithContext(sctx, "POST", b.srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"talk"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	lines := make(chan string, 512)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "data: ") {
				lines <- l
			}
		}
	}()
	select {
	case <-lines: // the first chunk arrived
	case <-time.After(5 * time.Second):
		t.Fatal("no first chunk")
	}

	var ks struct {
		ID int64 `json:"id"`
	}
	a.mustAdmin(201, "POST", "/admin/api/killswitch", map[string]any{"scope": "user", "target": user, "reason": "abuse"}, &ks)
	set := time.Now()
	events, last := 1, ""
	for l := range lines {
		events++
		last = l
	}
	cut := time.Since(set)
	t.Logf("stream cut %v after the switch, after %d events; last %s", cut, events, last)
	if cut > time.Second {
		t.Errorf("stream on B ended %v after the switch was set on A", cut)
	}
	if events >= 200 || !strings.Contains(last, `"error"`) || !strings.Contains(last, "kill_switch") || !strings.Contains(last, "abuse") {
		t.Fatalf("stream ended after %d events with %q; want a kill_switch error event", events, last)
	}

	r, err := postChat(ctx, b.srv.URL, key, `{"model":"m","messages":[{"role":"user","content":"again"}]}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != 403 || r.code != "kill_switch" || !strings.Contains(r.message, "abuse") {
		t.Fatalf("new request on B: %d %s: %s", r.status, r.code, r.message)
	}

	a.mustAdmin(204, "DELETE", fmt.Sprintf("/admin/api/killswitch/%d", ks.ID), nil, nil)
	waitStatus(t, b, key, "m", 200, "", time.Second)

	// A model switch on A blocks the model on B, for everyone.
	other := a.addUserKey(uniqueOID("bystander"))
	a.mustAdmin(201, "POST", "/admin/api/killswitch", map[string]any{"scope": "model", "target": "m", "reason": "provider incident"}, &ks)
	r = waitStatus(t, b, other, "m", 403, "kill_switch", time.Second)
	if !strings.Contains(r.message, "provider incident") || !strings.Contains(r.message, "model 'm'") {
		t.Fatalf("model switch message: %s", r.message)
	}
	if r, err := postChat(ctx, a.srv.URL, key, `{"model":"m","messages":[{"role":"user","content":"x"}]}`, nil); err != nil || r.status != 403 || r.code != "kill_switch" {
		t.Fatalf("model switch on A itself: %v %d %s", err, r.status, r.code)
	}
	b.mustAdmin(204, "DELETE", fmt.Sprintf("/admin/api/killswitch/%d", ks.ID), nil, nil)
	waitStatus(t, a, other, "m", 200, "", time.Second)
}

// waitStatus retries a small chat request of key on in until it answers status
// (and code), failing after within.
func waitStatus(t *testing.T, in *instance, key, model string, status int, code string, within time.Duration) chatResult {
	t.Helper()
	start := time.Now()
	for {
		r, err := postChat(context.Background(), in.srv.URL, key, `{"model":"`+model+`","max_tokens":2,"messages":[{"role":"user","content":"x"}]}`, nil)
		if err == nil && r.status == status && r.code == code {
			return r
		}
		if time.Since(start) > within {
			t.Fatalf("after %v: %v %d %s: %s; want %d %s", within, err, r.status, r.code, r.message, status, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
