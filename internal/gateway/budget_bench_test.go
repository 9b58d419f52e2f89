package gateway

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/antigravity/gateway/internal/fakeprovider"
)

// BenchmarkBudgetsOnOff compares gateway throughput for a user without a
// budget and one with a budget (reserve + settle on every request), in the same
// process and run, in both modes. Compare the ns/op of the off/on pairs.
func BenchmarkBudgetsOnOff(b *testing.B) {
	for _, mode := range []string{"embedded", "production"} {
		b.Run(mode, func(b *testing.B) {
			var env map[string]string
			if mode == "production" {
				env = productionEnv(b)
			}
			in := newInstance(b, env)
			_, fakeURL := newFake(b, fakeprovider.Options{RecordLimit: -1})
			in.addModel("m", fakeURL, "")
			off := in.addUserKey("nobudget")
			on := in.addUserKey("budgeted")
			in.mustAdmin(200, "PUT", "/admin/api/users/budgeted/budget", map[string]any{"monthly_usd": 1000000}, nil)
			body := []byte(`{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`)
			for _, k := range []struct{ name, key string }{{"off", off}, {"on", on}, {"off-again", off}} {
				b.Run(k.name, func(b *testing.B) {
					client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
					b.SetParallelism(32) // many requests in flight: throughput, not latency
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							req, _ := http.NewRequest("POST", in.srv.URL+"/v1/chat/completions", bytes.NewReader(body))
							req.Header.Set("Authorization", "Bearer "+k.key)
							resp, err := client.Do(req)
							if err != nil {
								b.Fatal(err)
							}
							_, _ = resp.Body.Read(make([]byte, 4096))
							resp.Body.Close()
							if resp.StatusCode != 200 {
								b.Fatalf("status %d", resp.StatusCode)
							}
						}
					})
				})
			}
		})
	}
}
