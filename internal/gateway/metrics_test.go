package gateway

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/antigravity/gateway/internal/fakeprovider"
)

// TestMetricsModelLabelIsBounded: gateway_requests_total carries the model of
// a request only when the model is configured. A caller naming models that do
// not exist must not add a series each (a key holder could grow the gateway's
// memory and /metrics without bound); such requests count under model="".
func TestMetricsModelLabelIsBounded(t *testing.T) {
	in := newInstance(t, nil)
	_, fakeURL := newFake(t, fakeprovider.Options{})
	in.addModel("m", fakeURL, "")
	key := in.addUserKey("u")
	post := func(model string) int {
		body := `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
		req, _ := http.NewRequest("POST", in.srv.URL+"/v1/chat/completions", bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("m"); code != 200 {
		t.Fatalf("configured model: status %d", code)
	}
	unknown := []string{"no-such-model-1", "no-such-model-2", "no-such-model-3"}
	for _, m := range unknown {
		if code := post(m); code != 404 {
			t.Fatalf("model %s: status %d, want 404", m, code)
		}
	}
	resp, err := http.Get(in.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "\ngateway_usage_pending_rows ") {
		t.Error("no gateway_usage_pending_rows in /metrics")
	}
	var series []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "gateway_requests_total{") {
			series = append(series, line)
		}
	}
	text := strings.Join(series, "\n")
	for _, m := range unknown {
		if strings.Contains(text, m) {
			t.Errorf("a series for the unknown model %s:\n%s", m, text)
		}
	}
	for _, want := range []string{`code="200",model="m",route="chat.completions"} 1`, `code="404",model="",route="chat.completions"} 3`} {
		if !strings.Contains(text, want) {
			t.Errorf("no series %s in:\n%s", want, text)
		}
	}
}
