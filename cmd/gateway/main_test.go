package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"

	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/fakeprovider"
	"github.com/antigravity/gateway/internal/store"
	"github.com/antigravity/gateway/internal/store/sqlite"
)

const adminKey = "sk-gate-drain-test-admin-key-000000"

// TestSIGTERMDrains builds the binary, starts a long stream, sends SIGTERM and
// checks the stream still finishes, the process exits 0, and the usage row of the
// stream was written before exit.
func TestSIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gateway")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	fake := httptest.NewServer(fakeprovider.New(fakeprovider.Options{TokenLatency: 40 * time.Millisecond, ReplyTokens: 40}))
	defer fake.Close()

	addr := freeAddr(t)
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"GATEWAY_LISTEN="+addr, "GATEWAY_DATA_DIR="+data, "GATEWAY_ADMIN_KEY="+adminKey,
		"GATEWAY_SHUTDOWN_GRACE=20s", "GATEWAY_USAGE_FLUSH_INTERVAL=1h", // only the shutdown flush writes
		"DATABASE_URL=", "REDIS_URL=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	base := "http://" + addr
	waitHealthy(t, base)

	call(t, base, "POST", "/admin/api/models", `{"name":"slow","context_window":8000,"max_output_tokens":1000,"input_price_per_1m":1,"output_price_per_1m":2}`, 201)
	call(t, base, "POST", "/admin/api/models/slow/endpoints", `{"provider":"openai_compatible","base_url":"`+fake.URL+`/v1"}`, 201)
	time.Sleep(300 * time.Millisecond) // config event → registry reload

	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(`{"model":"slow","stream":true,"messages":[{"role":"user","content":"go"}]}`))
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream status %d: %s\n%s", resp.StatusCode, b, logs.String())
	}
	requestID := resp.Header.Get("x-request-id")
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil { // first event arrived: the stream is in flight
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("stream cut during drain: %v", err)
	}
	if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Fatalf("stream did not finish: %q", rest)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("did not exit\n%s", logs.String())
	}

	st, err := sqlite.Open(context.Background(), filepath.Join(data, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.ListUsage(context.Background(), store.UsageFilter{RequestID: requestID})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Status != 200 || rows[0].CompletionTokens != 40 {
		t.Fatalf("usage rows after drain: %+v\n%s", rows, logs.String())
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHealthy(t *testing.T, base string) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("gateway did not become healthy")
}

func call(t *testing.T, base, method, path, body string, want int) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d: %s", method, path, resp.StatusCode, b)
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}
