package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Names the run gives the gateways' configuration.
const (
	adminKey      = "sk-gate-loadharness-admin-key-000000"
	encryptionKey = "loadharness-encryption-key-0123456789"
	modelNS       = "bench"        // served by the fake's non-streaming provider
	modelST       = "bench-stream" // served by the fake's streaming provider
	benchUser     = "bench"
)

// gatewayBinary builds ./cmd/gateway of the module at repo into dir, unless a
// binary is given.
func gatewayBinary(ctx context.Context, c *config, dir string) (string, error) {
	if c.gatewayBin != "" {
		return c.gatewayBin, nil
	}
	bin := filepath.Join(dir, "gateway")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gateway")
	cmd.Dir = c.repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gateway: %v\n%s", err, out)
	}
	return bin, nil
}

// sourceVersion describes the source the gateway was built from: the commit,
// and whether the work tree had uncommitted changes.
func sourceVersion(c *config) string {
	if c.gatewayBin != "" {
		return "the given binary " + c.gatewayBin
	}
	head, err := exec.Command("git", "-C", c.repo, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "a work tree outside git"
	}
	v := "commit " + strings.TrimSpace(string(head))
	if st, err := exec.Command("git", "-C", c.repo, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		v += " plus uncommitted changes"
	}
	return v
}

// childEnv is the harness's environment without the variables that would
// change a child's behaviour (gateway settings, proxies, GOMAXPROCS), plus
// extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "GATEWAY_"), k == "DATABASE_URL", k == "REDIS_URL", k == "OPENAI_API_KEY",
			k == "OPENAI_BASE_URL", strings.EqualFold(k, "http_proxy"), strings.EqualFold(k, "https_proxy"),
			strings.EqualFold(k, "all_proxy"), k == "GOMAXPROCS", k == "GOGC", k == "GOMEMLIMIT", k == "GODEBUG":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// gatewayEnv is the environment of one gateway: embedded mode with dataDir, or
// production mode when dbURL is set.
func gatewayEnv(c *config, addr, dataDir, dbURL string) []string {
	env := []string{
		"GATEWAY_LISTEN=" + addr, "GATEWAY_DATA_DIR=" + dataDir, "GATEWAY_ADMIN_KEY=" + adminKey,
		"GATEWAY_DEMO_MODEL=false", "GATEWAY_LOG_LEVEL=" + c.logLevel,
	}
	if dbURL != "" {
		env = append(env, "DATABASE_URL="+dbURL, "REDIS_URL="+c.redisURL, "GATEWAY_ENCRYPTION_KEY="+encryptionKey)
	}
	return childEnv(append(env, c.gatewayEnv...)...) // later entries win
}

// recreateDatabase drops and creates the bench database and returns its URL.
func recreateDatabase(ctx context.Context, adminURL, name string) (string, error) {
	if strings.ContainsFunc(name, func(r rune) bool { return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }) {
		return "", fmt.Errorf("bench database name %q: use lower-case letters, digits and _", name)
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connecting to %s: %w", redactURL(adminURL), err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// dropDatabase drops the bench database.
func dropDatabase(adminURL, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	return err
}

// commits returns the committed transactions of database name so far
// (pg_stat_database.xact_commit), read from the administration database so the
// reading itself does not count.
func commits(ctx context.Context, adminURL, name string) (int64, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", name).Scan(&n)
	return n, err
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// gatewayClient configures a gateway through its admin API.
type gatewayClient struct {
	base string
	http *http.Client
}

func (g *gatewayClient) call(ctx context.Context, method, path string, body any, want int) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out, nil
}

// configure adds the two bench models pointing at the fake provider, a user and
// a key of theirs, and waits until both models answer through the gateway. It
// returns the key.
func (g *gatewayClient) configure(ctx context.Context, fakeURL string) (string, error) {
	for _, m := range []struct{ name, prefix string }{{modelNS, nonStreamPrefix}, {modelST, streamPrefix}} {
		if _, err := g.call(ctx, "POST", "/admin/api/models", map[string]any{
			"name": m.name, "context_window": 16000, "max_output_tokens": 4000,
			"input_price_per_1m": 2.5, "output_price_per_1m": 10,
		}, http.StatusCreated); err != nil {
			return "", err
		}
		if _, err := g.call(ctx, "POST", "/admin/api/models/"+m.name+"/endpoints", map[string]any{
			"provider": "openai_compatible", "base_url": fakeURL + m.prefix + "/v1", "upstream_model": m.name,
		}, http.StatusCreated); err != nil {
			return "", err
		}
	}
	if _, err := g.call(ctx, "POST", "/admin/api/users", map[string]any{
		"oid": benchUser, "email": benchUser + "@example.com", "display_name": "Load harness",
	}, http.StatusCreated); err != nil {
		return "", err
	}
	k, err := g.call(ctx, "POST", "/admin/api/users/"+benchUser+"/keys", map[string]any{"name": "load"}, http.StatusCreated)
	if err != nil {
		return "", err
	}
	key, _ := k["key"].(string)
	if key == "" {
		return "", errors.New("the gateway returned no key")
	}
	// The registry reloads on the configuration event; wait until it has.
	deadline := time.Now().Add(15 * time.Second)
	for _, body := range [][]byte{requestBody(modelNS, false), requestBody(modelST, true)} {
		for {
			status, err := g.probe(ctx, key, body)
			if status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				return "", fmt.Errorf("the bench models do not answer through the gateway: status %d, %v", status, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return key, nil
}

func (g *gatewayClient) probe(ctx context.Context, key string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", g.base+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// waitHealthy waits for the gateway's /healthz, or for p to exit.
func (g *gatewayClient) waitHealthy(ctx context.Context, p *proc, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if p.exited() {
			return fmt.Errorf("%s exited (%v):\n%s", p.name, p.err, p.tail(3000))
		}
		resp, err := g.http.Get(g.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not healthy within %s:\n%s", p.name, within, p.tail(3000))
}

// usageFlushes scrapes the gateway's usage-writer counters from /metrics: the
// batches written and the rows in them.
func (g *gatewayClient) usageFlushes(ctx context.Context) (flushes, rows float64, err error) {
	m, err := g.metrics(ctx)
	if err != nil {
		return 0, 0, err
	}
	return m[`gateway_usage_flushes_total{result="ok"}`], m["gateway_usage_rows_written_total"], nil
}

// metrics scrapes the gateway's /metrics: value by series (name and labels as
// written).
func (g *gatewayClient) metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", g.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics = %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// requestBody is the chat request of every target: a short prompt, and for
// streams the usage chunk asked for (the gateway asks for it upstream anyway,
// so direct calls get the same stream).
func requestBody(model string, stream bool) []byte {
	if stream {
		return []byte(`{"model":"` + model + `","stream":true,"stream_options":{"include_usage":true},` +
			`"messages":[{"role":"user","content":"Count to sixteen for the load harness."}]}`)
	}
	return []byte(`{"model":"` + model + `","messages":[{"role":"user","content":"Say hello to the load harness."}]}`)
}

// backendCPU returns the CPU time used so far by each PostgreSQL backend
// connected to database name, by pid (the server runs on this machine; its
// /proc entries are readable by root).
func backendCPU(ctx context.Context, adminURL, name string) (map[int]time.Duration, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'", name)
	if err != nil {
		return nil, err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, err
	}
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		if t, err := cpuTime(int(pid)); err == nil {
			out[int(pid)] = t
		}
	}
	return out, nil
}

// cpuDelta sums the CPU time each process gained between two readings; a
// process absent from before started in between and counts whole.
func cpuDelta(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range after {
		d += max(0, t-before[pid])
	}
	return d
}
