package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/budget"
	"github.com/antigravity/gateway/internal/fakeprovider"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// chatResult is the outcome of one raw chat completion.
type chatResult struct {
	status    int
	code      string
	message   string
	header    http.Header
	requestID string
	body      string
}

// postChat sends a raw chat completion to base (an instance's URL) as key.
func postChat(ctx context.Context, base, key, body string, hdr map[string]string) (chatResult, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return chatResult{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return chatResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return chatResult{}, err
	}
	r := chatResult{status: resp.StatusCode, header: resp.Header, requestID: resp.Header.Get("x-request-id"), body: string(b)}
	if resp.StatusCode != 200 {
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(b, &e)
		r.code, r.message = e.Error.Code, e.Error.Message
	}
	return r, nil
}

// budgetGet is the part of GET …/budget the tests read.
type budgetGet struct {
	MonthlyUSD   *json.Number `json:"monthly_usd"`
	SpentUSD     json.Number  `json:"spent_usd"`
	ReservedUSD  json.Number  `json:"reserved_usd"`
	RemainingUSD *json.Number `json:"remaining_usd"`
	Exhausted    bool         `json:"exhausted"`
}

func (in *instance) budget(path string) (spent, reserved money.Nanos) {
	in.t.Helper()
	var v budgetGet
	in.mustAdmin(200, "GET", path, nil, &v)
	var err error
	if spent, err = money.ParseUSDNanos(string(v.SpentUSD)); err != nil {
		in.t.Fatalf("spent_usd %q: %v", v.SpentUSD, err)
	}
	if reserved, err = money.ParseUSDNanos(string(v.ReservedUSD)); err != nil {
		in.t.Fatalf("reserved_usd %q: %v", v.ReservedUSD, err)
	}
	return spent, reserved
}

// waitSettled waits until the budget at path holds nothing and its spent
// equals the UsageLogs sum of filter, and returns that sum.
func (in *instance) waitSettled(path string, filter store.UsageFilter, within time.Duration) money.Nanos {
	in.t.Helper()
	deadline := time.Now().Add(within)
	for {
		spent, reserved := in.budget(path)
		tot, err := in.g.Store.SumUsage(context.Background(), filter)
		if err != nil {
			in.t.Fatal(err)
		}
		if reserved == 0 && spent == tot.Cost {
			return tot.Cost
		}
		if time.Now().After(deadline) {
			in.t.Fatalf("%s after %v: spent %s reserved %s, UsageLogs sum %s (%d rows)", path, within, spent.USD(), reserved.USD(), tot.Cost.USD(), tot.Requests)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLimit waits until every instance enforces limit on the budget (limits
// reach the reserver through an event and an asynchronous reload, so a PUT
// returns before the budget is in force, even on the replica that served it).
func waitLimit(t *testing.T, scope store.BudgetScope, target string, limit money.Nanos, ins ...*instance) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for _, in := range ins {
		for {
			got, _, ok := in.g.Budget.Limits.Limit(scope, target)
			if ok && got == limit {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("budget %s:%s not in force after 1s (limit %s, ok %v)", scope, target, got.USD(), ok)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// uniqueOID names a user that no earlier run used: Redis counters outlive the
// test databases.
func uniqueOID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

// TestBudgetAcrossReplicas: 500 concurrent requests of one user over three
// replicas, with client cancels and upstream failures mixed in, never spend
// more than the user's budget, are refused only with 429 insufficient_quota
// (or 403 kill_switch once exhausted), leave nothing reserved, and the
// counters equal the UsageLogs sum to the nano-dollar.
func TestBudgetAcrossReplicas(t *testing.T) {
	const total, workers, covered = 500, 60, 100
	env := productionEnv(t)
	_, fakeURL := newFake(t, fakeprovider.Options{TokenLatency: time.Millisecond, RecordLimit: -1})
	ins := []*instance{newInstance(t, env), newInstance(t, env), newInstance(t, env)}
	a := ins[0]
	a.addModel("m", fakeURL, "")
	a.addModelAs("bad", fakeprovider.BehaviorError500, fakeURL, "")
	for _, in := range ins[1:] {
		in.reload()
	}
	user := uniqueOID("spender")
	key := a.addUserKey(user)
	probeKey := a.addUserKey(uniqueOID("probe"))

	// One request of another user gives the exact cost of a request.
	const body = `{"model":"%s","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
	ctx := context.Background()
	r, err := postChat(ctx, a.srv.URL, probeKey, fmt.Sprintf(body, "m"), nil)
	if err != nil || r.status != 200 {
		t.Fatalf("probe: %v %+v", err, r)
	}
	row := a.usageRow(r.requestID)
	model, err := a.g.Store.GetModel(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	cost, worst := row.Cost, budget.WorstCase(model, row.PromptTokens, 16)
	if cost <= 0 || worst < cost {
		t.Fatalf("cost %s, worst case %s", cost.USD(), worst.USD())
	}
	limit := covered * cost
	path := "/admin/api/users/" + user + "/budget"
	b := ins[1]
	b.mustAdmin(200, "PUT", path, map[string]any{"monthly_usd": limit.JSON()}, nil)
	waitLimit(t, store.BudgetUser, user, limit, ins...)
	t.Logf("request cost $%s, worst case $%s, budget $%s", cost.USD(), worst.USD(), limit.USD())

	type outcome struct {
		ok, refused, upstreamFailed, canceled int
		errs                                  []string
	}
	var mu sync.Mutex
	var res outcome
	note := func(f func(o *outcome)) { mu.Lock(); f(&res); mu.Unlock() }
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				model := "m"
				if i%10 == 3 {
					model = "bad"
				}
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				if rand.IntN(7) == 0 { // random client cancel, often mid-request
					rctx, cancel = context.WithTimeout(ctx, time.Duration(rand.IntN(25000))*time.Microsecond)
				}
				r, err := postChat(rctx, ins[i%len(ins)].srv.URL, key, fmt.Sprintf(body, model), nil)
				cancel()
				switch {
				case err != nil && errors.Is(err, context.DeadlineExceeded) && rctx.Err() != nil:
					note(func(o *outcome) { o.canceled++ })
				case err != nil:
					note(func(o *outcome) { o.errs = append(o.errs, fmt.Sprintf("request %d: %v", i, err)) })
				case r.status == 200:
					if model != "m" {
						note(func(o *outcome) { o.errs = append(o.errs, fmt.Sprintf("request %d to %s: 200", i, model)) })
					} else {
						note(func(o *outcome) { o.ok++ })
					}
				case r.status == 429 && r.code == "insufficient_quota", r.status == 403 && r.code == "kill_switch":
					note(func(o *outcome) { o.refused++ })
				case model == "bad" && r.status >= 500:
					note(func(o *outcome) { o.upstreamFailed++ })
				default:
					note(func(o *outcome) {
						o.errs = append(o.errs, fmt.Sprintf("request %d to %s: %d %s: %s", i, model, r.status, r.code, r.message))
					})
				}
			}
		}()
	}
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	t.Logf("ok %d, refused %d, upstream failures %d, client cancels %d, other %d", res.ok, res.refused, res.upstreamFailed, res.canceled, len(res.errs))
	for i, e := range res.errs {
		if i == 10 {
			t.Errorf("… %d more", len(res.errs)-10)
			break
		}
		t.Error(e)
	}

	// Every request has ended (cancelled handlers finish on their own): nothing
	// stays reserved and the counters equal the database on every replica.
	sum := a.waitSettled(path, store.UsageFilter{UserOID: user}, 10*time.Second)
	for _, in := range ins[1:] {
		if spent, reserved := in.budget(path); spent != sum || reserved != 0 {
			t.Errorf("replica: spent %s reserved %s, want %s and 0", spent.USD(), reserved.USD(), sum.USD())
		}
	}
	if sum > limit {
		t.Errorf("spent $%s over the budget $%s", sum.USD(), limit.USD())
	}
	if res.ok*10 <= covered*8 {
		t.Errorf("%d requests succeeded, want more than 80%% of the %d the budget covers", res.ok, covered)
	}
	if res.refused == 0 || res.upstreamFailed == 0 {
		t.Errorf("the mix did not exercise refusals (%d) and upstream failures (%d)", res.refused, res.upstreamFailed)
	}
	// The budget is (nearly) used up: a request that does not fit is refused
	// with a message naming the budget.
	r, err = postChat(ctx, ins[2].srv.URL, key, `{"model":"m","max_tokens":4000,"messages":[{"role":"user","content":"hi"}]}`, nil)
	if err != nil || !(r.status == 429 && r.code == "insufficient_quota" && strings.Contains(r.message, "user '"+user+"'")) &&
		!(r.status == 403 && r.code == "kill_switch") {
		t.Errorf("request over the remaining budget: %v %d %s: %s", err, r.status, r.code, r.message)
	}
}

// TestBudgetEmbedded: budgets on an app and on a key in embedded mode (the
// in-process reserver).
func TestBudgetEmbedded(t *testing.T) {
	_, fakeURL := newFake(t, fakeprovider.Options{})
	in := newInstance(t, nil)
	in.addModel("m", fakeURL, "")
	in.mustAdmin(201, "POST", "/admin/api/users", map[string]any{"oid": "owner", "email": "owner@example.com"}, nil)
	var k struct {
		ID  int64  `json:"id"`
		Key string `json:"key"`
	}
	in.mustAdmin(201, "POST", "/admin/api/users/owner/keys", map[string]any{"name": "k"}, &k)
	in.mustAdmin(201, "POST", "/admin/api/users", map[string]any{"oid": "enduser", "email": "enduser@example.com"}, nil)
	in.mustAdmin(201, "POST", "/admin/api/apps?owner_id=owner", map[string]any{"app_id": "dify", "name": "Dify"}, nil)
	ctx := context.Background()
	model, err := in.g.Store.GetModel(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	viaApp := map[string]string{"X-User-Oid": "enduser", "X-App-Id": "dify"}
	small := `{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
	big := `{"model":"m","max_tokens":4000,"messages":[{"role":"user","content":"hi"}]}`
	// 4000 output tokens alone cost $0.04 at $10/1M.
	bigWorst := budget.WorstCase(model, 0, 4000)

	refused := func(t *testing.T, r chatResult, err error, names string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if r.status != 429 || r.code != "insufficient_quota" || r.header.Get("x-should-retry") != "false" ||
			!strings.Contains(r.message, names) || !strings.Contains(r.message, "max_tokens") {
			t.Fatalf("got %d %s (x-should-retry %q): %s; want 429 insufficient_quota naming %s", r.status, r.code, r.header.Get("x-should-retry"), r.message, names)
		}
	}

	t.Run("app", func(t *testing.T) {
		limit := bigWorst / 2
		in.mustAdmin(200, "PUT", "/admin/api/apps/dify/budget", map[string]any{"monthly_usd": limit.JSON()}, nil)
		waitLimit(t, store.BudgetApp, "dify", limit, in)
		r, err := postChat(ctx, in.srv.URL, k.Key, big, viaApp)
		refused(t, r, err, "app 'dify'")
		r, err = postChat(ctx, in.srv.URL, k.Key, small, viaApp)
		if err != nil || r.status != 200 {
			t.Fatalf("within budget: %v %d %s", err, r.status, r.body)
		}
		row := in.usageRow(r.requestID)
		if row.AppID == nil || *row.AppID != "dify" || row.Cost <= 0 {
			t.Fatalf("row %+v", row)
		}
		spent, reserved := in.budget("/admin/api/apps/dify/budget")
		if spent != row.Cost || reserved != 0 {
			t.Fatalf("app budget spent %s reserved %s, want %s and 0", spent.USD(), reserved.USD(), row.Cost.USD())
		}
		// Without the app the same big request passes (only the app is limited).
		r, err = postChat(ctx, in.srv.URL, k.Key, big, nil)
		if err != nil || r.status != 200 {
			t.Fatalf("big request outside the app: %v %d %s", err, r.status, r.body)
		}
		// Its row must be written before the key gets a budget: a counter
		// created then starts from the database (rows still queued in the
		// usage recorder would be missed).
		in.usageRow(r.requestID)
	})

	t.Run("key", func(t *testing.T) {
		path := fmt.Sprintf("/admin/api/keys/%d/budget", k.ID)
		before, _ := in.budget(path) // the key already spent in the app subtest
		in.mustAdmin(200, "PUT", path, map[string]any{"monthly_usd": (before + bigWorst/2).JSON()}, nil)
		waitLimit(t, store.BudgetKey, fmt.Sprint(k.ID), before+bigWorst/2, in)
		r, err := postChat(ctx, in.srv.URL, k.Key, big, nil)
		refused(t, r, err, fmt.Sprintf("key '%d'", k.ID))
		r, err = postChat(ctx, in.srv.URL, k.Key, small, nil)
		if err != nil || r.status != 200 {
			t.Fatalf("within budget: %v %d %s", err, r.status, r.body)
		}
		row := in.usageRow(r.requestID)
		spent, reserved := in.budget(path)
		if spent != before+row.Cost || reserved != 0 {
			t.Fatalf("key budget spent %s reserved %s, want %s and 0", spent.USD(), reserved.USD(), (before + row.Cost).USD())
		}
		tot, err := in.g.Store.SumUsage(ctx, store.UsageFilter{}) // every request went through key k
		if err != nil {
			t.Fatal(err)
		}
		if tot.Cost != spent {
			t.Fatalf("key budget spent %s, UsageLogs %s", spent.USD(), tot.Cost.USD())
		}
	})
}

// TestReplicaDeathReclaims: a replica killed (SIGKILL) while it holds a
// reservation leaks nothing: the hold blocks the budget until the reservation
// TTL, then the next reservation reclaims it.
func TestReplicaDeathReclaims(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	env := productionEnv(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "gateway")
	bctx, bcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer bcancel()
	if out, err := exec.CommandContext(bctx, "go", "build", "-o", bin, "../../cmd/gateway").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	_, fakeURL := newFake(t, fakeprovider.Options{})
	in := newInstance(t, env)
	in.addModel("m", fakeURL, "")
	in.addModelAs("stuck", fakeprovider.BehaviorHang, fakeURL, "")
	user := uniqueOID("doomed")
	key := in.addUserKey(user)
	ctx := context.Background()
	model, err := in.g.Store.GetModel(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	worst := budget.WorstCase(model, 0, 4000) // output alone: $0.04
	limit := worst + worst/2
	path := "/admin/api/users/" + user + "/budget"
	in.mustAdmin(200, "PUT", path, map[string]any{"monthly_usd": limit.JSON()}, nil)
	waitLimit(t, store.BudgetUser, user, limit, in)

	const ttl = 3 * time.Second
	addr := freeTCPAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"GATEWAY_LISTEN="+addr, "GATEWAY_DATA_DIR="+filepath.Join(dir, "data"), "GATEWAY_ADMIN_KEY="+testAdminKey,
		"DATABASE_URL="+env["DATABASE_URL"], "REDIS_URL="+env["REDIS_URL"], "GATEWAY_ENCRYPTION_KEY="+env["GATEWAY_ENCRYPTION_KEY"],
		"GATEWAY_REDIS_PREFIX="+env["GATEWAY_REDIS_PREFIX"],
		"GATEWAY_DEMO_MODEL=false", "GATEWAY_UPSTREAM_TIMEOUT=1s", "GATEWAY_RESERVATION_TTL="+ttl.String())
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	base := "http://" + addr
	waitUp(t, base, &logs)

	// A hanging request on the replica holds the worst case of 4000 tokens.
	hangCtx, hangCancel := context.WithCancel(ctx)
	defer hangCancel()
	hangDone := make(chan struct{})
	go func() {
		defer close(hangDone)
		_, _ = postChat(hangCtx, base, key, `{"model":"stuck","max_tokens":4000,"messages":[{"role":"user","content":"hi"}]}`, nil)
	}()
	deadline := time.Now().Add(5 * time.Second)
	var held time.Time
	for {
		if _, reserved := in.budget(path); reserved > 0 {
			held = time.Now()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hanging request holds nothing after 5s\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no settle, no release
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true
	<-hangDone

	spent, reserved := in.budget(path)
	if reserved < worst || spent != 0 {
		t.Fatalf("after the kill: spent %s reserved %s, want 0 and at least %s", spent.USD(), reserved.USD(), worst.USD())
	}
	full := `{"model":"m","max_tokens":4000,"messages":[{"role":"user","content":"hi"}]}`
	r, err := postChat(ctx, in.srv.URL, key, full, nil)
	if err != nil {
		t.Fatal(err)
	}
	if since := time.Since(held); since >= ttl {
		t.Fatalf("the check took %v, longer than the reservation TTL %v", since, ttl)
	}
	if r.status != 429 || r.code != "insufficient_quota" || !strings.Contains(r.message, "reserved") {
		t.Fatalf("request needing the budget held by the dead replica: %d %s: %s", r.status, r.code, r.message)
	}

	// After the TTL the next reservation reclaims the orphaned hold.
	time.Sleep(time.Until(held.Add(ttl + 300*time.Millisecond)))
	r, err = postChat(ctx, in.srv.URL, key, full, nil)
	if err != nil || r.status != 200 {
		t.Fatalf("after the TTL: %v %d %s: %s", err, r.status, r.code, r.message)
	}
	sum := in.waitSettled(path, store.UsageFilter{UserOID: user}, 5*time.Second)
	row := in.usageRow(r.requestID)
	if sum != row.Cost {
		t.Fatalf("spent %s, want only the last request's %s (the dead replica's hold spent nothing)", sum.USD(), row.Cost.USD())
	}
}

// syncBuffer is a bytes buffer safe for a process's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitUp waits for a gateway process to answer its health check.
func waitUp(t *testing.T, base string, logs *syncBuffer) {
	t.Helper()
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
	t.Fatalf("gateway did not become healthy\n%s", logs.String())
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
