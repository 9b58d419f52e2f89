package main

// Budgets (issue 4): every gateway also serves a second key, of a user with a
// huge monthly budget, so each of its requests reserves before the upstream
// call and settles after. The two keys share the gateway process and alternate
// within the same rounds: "gateway-X" (no budget) and "gateway-X+budget".

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	budgetUser   = "bench-budget"
	budgetUSD    = 1000000 // a month: never exhausted by a run
	budgetSuffix = "+budget"
)

// configureBudget adds the budget user, a key of theirs and their monthly
// budget, and waits until a request with the key settles against the budget
// (the limits reload on an event). It returns the key.
func (g *gatewayClient) configureBudget(ctx context.Context) (string, error) {
	if _, err := g.call(ctx, "POST", "/admin/api/users", map[string]any{
		"oid": budgetUser, "email": budgetUser + "@example.com", "display_name": "Load harness (budget)",
	}, http.StatusCreated); err != nil {
		return "", err
	}
	k, err := g.call(ctx, "POST", "/admin/api/users/"+budgetUser+"/keys", map[string]any{"name": "load-budget"}, http.StatusCreated)
	if err != nil {
		return "", err
	}
	key, _ := k["key"].(string)
	if key == "" {
		return "", fmt.Errorf("the gateway returned no key")
	}
	if _, err := g.call(ctx, "PUT", "/admin/api/users/"+budgetUser+"/budget",
		map[string]any{"monthly_usd": budgetUSD}, http.StatusOK); err != nil {
		return "", err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, err := g.probe(ctx, key, requestBody(modelNS, false))
		if status == http.StatusOK {
			v, err2 := g.call(ctx, "GET", "/admin/api/users/"+budgetUser+"/budget", nil, http.StatusOK)
			if err2 == nil && (usdField(v, "spent_usd") > 0 || usdField(v, "reserved_usd") > 0) {
				return key, nil
			}
			err = err2
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("requests with the budget key do not count against the budget: status %d, %v", status, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func usdField(v map[string]any, name string) float64 {
	switch x := v[name].(type) {
	case float64:
		return x
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

// scriptCommands are the Redis commands that run a script: one round trip each.
var scriptCommands = map[string]bool{
	"eval": true, "evalsha": true, "eval_ro": true, "evalsha_ro": true, "fcall": true, "fcall_ro": true,
}

// redisScripts reads INFO commandstats: the calls of the script commands and
// the microseconds Redis spent in them, server-wide (every database and
// client).
func redisScripts(ctx context.Context, c *redis.Client) (calls, usec int64, err error) {
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, 0, err
	}
	calls, usec = parseScriptStats(info)
	return calls, usec, nil
}

// parseScriptStats sums the calls and usec of the script commands in the
// text of INFO commandstats ("cmdstat_evalsha:calls=3,usec=250,...").
func parseScriptStats(info string) (calls, usec int64) {
	for line := range strings.Lines(info) {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		cmd, found := strings.CutPrefix(name, "cmdstat_")
		if !ok || !found || !scriptCommands[cmd] {
			continue
		}
		for kv := range strings.SplitSeq(stats, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				calls += n
			case "usec":
				usec += n
			}
		}
	}
	return calls, usec
}

// budgetScripts reads the gateway's budget script counts by script (reserve,
// settle, …) from /metrics (gateway_budget_redis_script_seconds_count).
func (g *gatewayClient) budgetScripts(ctx context.Context) (map[string]float64, error) {
	m, err := g.metrics(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	const prefix = `gateway_budget_redis_script_seconds_count{script="`
	for name, v := range m {
		if s, ok := strings.CutPrefix(name, prefix); ok {
			out[strings.TrimSuffix(s, `"}`)] += v
		}
	}
	return out, nil
}

// redisTurn measures one turn of a production subject in Redis.
type redisTurn struct {
	calls, usec int64
	scripts     map[string]float64
	ok          bool // commandstats read
	scriptsOK   bool // /metrics read
}

func (b *bench) redisBefore(ctx context.Context, s *subject) *redisTurn {
	if b.redis == nil || !s.redis {
		return nil
	}
	t := &redisTurn{}
	var err error
	t.calls, t.usec, err = redisScripts(ctx, b.redis)
	t.ok = err == nil
	t.scripts, err = s.gw.budgetScripts(ctx)
	t.scriptsOK = err == nil
	return t
}

// redisAfter adds the turn's Redis figures to t.
func (b *bench) redisAfter(ctx context.Context, s *subject, before *redisTurn, t *tally) {
	if before == nil {
		return
	}
	time.Sleep(100 * time.Millisecond) // the last requests' settles
	if before.ok {
		if calls, usec, err := redisScripts(ctx, b.redis); err == nil {
			t.redisKnown = true
			t.redisCalls += calls - before.calls
			t.redisUsec += usec - before.usec
		}
	}
	if before.scriptsOK {
		if after, err := s.gw.budgetScripts(ctx); err == nil {
			if t.scripts == nil {
				t.scripts = map[string]float64{}
			}
			t.scriptsKnown = true
			for k, v := range after {
				t.scripts[k] += v - before.scripts[k]
			}
		}
	}
}

// budgetSection reports the budget overhead: each +budget target next to the
// same gateway's target without budget, per scenario, and the maximum rates.
func (r *report) budgetSection(b *strings.Builder) {
	var pairs [][2]*subject // off, on
	for _, s := range r.subjects {
		if s.budget {
			for _, o := range r.subjects {
				if o.name == s.pair {
					pairs = append(pairs, [2]*subject{o, s})
				}
			}
		}
	}
	if len(pairs) == 0 {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("#### Budgets (issue 4)\n\n")
	p("Each gateway serves two keys from the same process, in the same alternating rounds: one of a user without a budget "+
		"(the plain row) and one of a user with a budget of %d USD a month (`%s`), whose every request reserves before "+
		"the upstream call and settles after. Overhead = on − off. Redis round trips per request = calls of "+
		"EVAL/EVALSHA/FCALL (INFO commandstats, server-wide) during the target's turns ÷ its requests; "+
		"scripts per request = the gateway's own count (gateway_budget_redis_script_seconds_count); "+
		"Redis µs/req = time Redis spent executing them.\n\n", budgetUSD, budgetSuffix)
	p("| scenario | gateway | p50 off → on ms | Δ p50 µs | p99 off → on ms | Δ p99 µs | CPU µs/req off → on | Δ CPU µs/req | " +
		"Redis round trips/req on (off) | scripts/req on | Redis µs/req on |\n")
	p("|---|---|--:|--:|--:|--:|--:|--:|--:|---|--:|\n")
	for _, sc := range r.scenarios {
		for _, pr := range pairs {
			off, on := sc.tallies[pr[0].name], sc.tallies[pr[1].name]
			if off == nil || on == nil || off.sent == 0 || on.sent == 0 {
				continue
			}
			cpuOff := float64(off.cpu.Microseconds()) / float64(off.sent)
			cpuOn := float64(on.cpu.Microseconds()) / float64(on.sent)
			rt, scripts, rus := "—", "—", "—"
			if on.redisKnown && off.redisKnown {
				rt = fmt.Sprintf("%.3f (%.3f)", float64(on.redisCalls)/float64(on.sent), float64(off.redisCalls)/float64(off.sent))
				rus = fmt.Sprintf("%.1f", float64(on.redisUsec)/float64(on.sent))
			}
			if on.scriptsKnown {
				scripts = scriptsPerRequest(on.scripts, on.sent)
			}
			p("| %s | %s | %.3f → %.3f | %+.0f | %.3f → %.3f | %+.0f | %.0f → %.0f | %+.0f | %s | %s | %s |\n",
				sc.title[:1], pr[0].name, ms(off.sum.P50), ms(on.sum.P50), us(on.sum.P50-off.sum.P50),
				ms(off.sum.P99), ms(on.sum.P99), us(on.sum.P99-off.sum.P99), cpuOff, cpuOn, cpuOn-cpuOff, rt, scripts, rus)
		}
	}
	p("\n")
	r.satSection(b)
	mark := func(ok bool) string {
		if ok {
			return "✅"
		}
		return "❌"
	}
	if len(r.maxes) > 0 {
		p("The max-rate search (above) on the same pairs; its steps are 50 %% apart and judged by p99, so it bounds the ratio coarsely:\n\n")
		p("| gateway | max req/s budgets off | max req/s budgets on | on / off |\n|---|--:|--:|--:|\n")
		for _, pr := range pairs {
			off, on := r.maxes[pr[0].name], r.maxes[pr[1].name]
			if off == nil || on == nil {
				continue
			}
			ratio := "—"
			if off.best > 0 {
				v := on.best / off.best
				ratio = fmt.Sprintf("%.2f", v)
				if off.failAt == 0 || on.failAt == 0 {
					ratio += " (a search reached its budget or cap: bound, not ratio)"
				}
			}
			p("| %s | %s | %s | %s |\n", pr[0].name, maxCell(off, r.cfg.maxStart), maxCell(on, r.cfg.maxStart), ratio)
		}
		p("\n")
	}
	for _, pr := range pairs {
		if len(r.scenarios) == 0 {
			break
		}
		on, off := r.scenarios[0].tallies[pr[1].name], r.scenarios[0].tallies[pr[0].name]
		if on == nil || off == nil || !on.redisKnown || on.sent == 0 || off.sent == 0 {
			continue
		}
		v := float64(on.redisCalls)/float64(on.sent) - float64(off.redisCalls)/float64(off.sent)
		p("- %s, scenario A: %.3f Redis round trips per request for budgets (on − off; target at most 2: one to reserve, one to settle; "+
			"concurrent requests share them, and only the reserve is waited for) %s.\n",
			pr[0].name, v, mark(v > 0 && v < 2.05))
	}
	p("\n")
}

func maxCell(m *maxResult, start float64) string {
	switch {
	case m.best == 0:
		return "< " + fmt.Sprint(start)
	case m.failAt == 0:
		return fmt.Sprintf("≥ %.0f", m.best)
	}
	return fmt.Sprintf("%.0f", m.best)
}

// scriptsPerRequest formats the gateway's script counts per request: the
// total, then by script.
func scriptsPerRequest(m map[string]float64, sent int) string {
	var total float64
	var parts []string
	for _, name := range []string{"reserve", "settle", "release"} {
		if v := m[name]; v > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", name, v/float64(sent)))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		v := m[name]
		total += v
		if name != "reserve" && name != "settle" && name != "release" && v > 0 {
			parts = append(parts, fmt.Sprintf("%s %.3f", name, v/float64(sent)))
		}
	}
	s := fmt.Sprintf("%.3f", total/float64(sent))
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
