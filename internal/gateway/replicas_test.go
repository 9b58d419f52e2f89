package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/antigravity/gateway/internal/fakeprovider"
	"github.com/antigravity/gateway/internal/store"
)

// TestRevokeAcrossReplicas: a key revoked through instance A is refused by
// instance B (same PostgreSQL and Redis) within one second.
func TestRevokeAcrossReplicas(t *testing.T) {
	env := productionEnv(t)
	_, fakeURL := newFake(t, fakeprovider.Options{})
	a := newInstance(t, env)
	b := newInstance(t, env)
	a.addModel("m", fakeURL, "")
	b.reload()
	a.mustAdmin(201, "POST", "/admin/api/users", map[string]any{"oid": "carol", "email": "carol@example.com"}, nil)
	var k struct {
		ID  int64  `json:"id"`
		Key string `json:"key"`
	}
	a.mustAdmin(201, "POST", "/admin/api/users/carol/keys", map[string]any{"name": "laptop"}, &k)

	ctx := context.Background()
	cb := b.client(k.Key)
	if _, err := cb.Chat.Completions.New(ctx, chatParams("m", "warm the cache on B")); err != nil {
		t.Fatal(err)
	}
	a.mustAdmin(204, "DELETE", fmt.Sprintf("/admin/api/keys/%d", k.ID), nil, nil)
	revoked := time.Now()
	for {
		_, err := cb.Chat.Completions.New(ctx, chatParams("m", "still allowed?"))
		var apiErr *openai.Error
		if errors.As(err, &apiErr) && apiErr.StatusCode == 401 && apiErr.Code == "invalid_api_key" {
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("instance B still accepts the key revoked on A after %v (last err %v)", time.Since(revoked), err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Deactivating the user through B blocks their other keys on A too.
	var k2 struct{ Key string }
	b.mustAdmin(201, "POST", "/admin/api/users/carol/keys", map[string]any{"name": "second"}, &k2)
	ca := a.client(k2.Key)
	if _, err := ca.Chat.Completions.New(ctx, chatParams("m", "warm A")); err != nil {
		t.Fatal(err)
	}
	b.mustAdmin(200, "PATCH", "/admin/api/users/carol", map[string]any{"is_active": false}, nil)
	deadline := time.Now().Add(time.Second)
	for {
		_, err := ca.Chat.Completions.New(ctx, chatParams("m", "x"))
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deactivated user's key still accepted on the other replica after 1s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestManyStreams relays enough concurrent streams through the gateway to catch
// lost or cut events (golang/go#40747 loses a few percent with a plain
// ReverseProxy), and checks every stream got exactly one usage row.
func TestManyStreams(t *testing.T) {
	forEachMode(t, testManyStreams)
}

func testManyStreams(t *testing.T, env map[string]string) {
	const streams, workers = 400, 32
	_, fakeURL := newFake(t, fakeprovider.Options{RecordLimit: -1})
	in := newInstance(t, env)
	in.addModel("m", fakeURL, "")
	key := in.addUserKey("dave")
	want := "data: [DONE]\n\n"
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	jobs := make(chan int)
	client := &http.Client{Timeout: 30 * time.Second}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				// Half the requests send their body without Content-Length.
				var body = strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"n ` + fmt.Sprint(i) + `"}]}`)
				req, _ := http.NewRequest("POST", in.srv.URL+"/v1/chat/completions", body)
				if i%2 == 0 {
					req.ContentLength = -1
				}
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				events, last := 0, ""
				sc := bufio.NewScanner(resp.Body)
				sc.Buffer(make([]byte, 64<<10), 1<<20)
				for sc.Scan() {
					if line := sc.Text(); strings.HasPrefix(line, "data: ") {
						if strings.Contains(line, `"usage"`) {
							errs <- fmt.Errorf("stream %d: usage sent to a client that did not ask: %s", i, line)
						}
						events++
						last = line + "\n\n"
					} else if line != "" {
						errs <- fmt.Errorf("stream %d: unexpected line %q", i, line)
					}
				}
				resp.Body.Close()
				// role chunk + 16 words + finish chunk + [DONE]
				if last != want || events != 19 {
					errs <- fmt.Errorf("stream %d: %d events, last %q", i, events, last)
				}
			}
		}()
	}
	for i := 0; i < streams; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n < 5 {
			t.Error(err)
		}
		n++
	}
	if n > 0 {
		t.Fatalf("%d of %d streams failed", n, streams)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tot, err := in.g.Store.SumUsage(context.Background(), store.UsageFilter{UserOID: "dave"})
		if err != nil {
			t.Fatal(err)
		}
		if tot.Requests == streams && tot.CompletionTokens == 16*streams {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage totals %+v, want %d requests and %d completion tokens", tot, streams, 16*streams)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
