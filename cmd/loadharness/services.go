package main

// The services of production mode (PostgreSQL and Redis) stand for other
// hosts: left to the scheduler, their work after each usage flush or budget
// script lands on the proxy core as often as not (it is the idler one at
// 1,000 req/s) and preempts the gateway there, which a deployment with the
// database elsewhere never sees. With -pin-services (default, with -pin) the
// bench database's PostgreSQL backends and the Redis server are pinned to the
// driver's CPUs for the run (Redis's affinity is restored at the end).

import (
	"context"
	"os/exec"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// servicePins remembers what was pinned, to restore Redis's affinity.
type servicePins struct {
	redisPID  int
	redisMask string // taskset's hex mask before the run
}

// pinServices pins the bench database's backends and the Redis server to the
// driver's CPUs; called before each measured phase (the gateways' pools may
// have opened connections since).
func (b *bench) pinServices(ctx context.Context) {
	c := b.cfg
	if !c.pin || !c.pinServices || b.dbURL == "" {
		return
	}
	var pids []int
	if conn, err := pgx.Connect(ctx, c.pgAdmin); err == nil {
		rows, err := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'", c.pgDB)
		if err == nil {
			if ps, err := pgx.CollectRows(rows, pgx.RowTo[int32]); err == nil {
				for _, p := range ps {
					pids = append(pids, int(p))
				}
			}
		}
		_ = conn.Close(ctx)
	}
	if b.pins.redisPID == 0 {
		if opt, err := redis.ParseURL(c.redisURL); err == nil {
			rc := redis.NewClient(opt)
			if info, err := rc.Info(ctx, "server").Result(); err == nil {
				b.pins.redisPID = infoInt(info, "process_id")
				if b.pins.redisPID > 0 {
					b.pins.redisMask = affinity(b.pins.redisPID)
				}
			}
			_ = rc.Close()
		}
	}
	if b.pins.redisPID > 0 {
		pids = append(pids, b.pins.redisPID)
	}
	n := 0
	for _, pid := range pids {
		if exec.Command("taskset", "-a", "-p", "-c", c.driverCPU, strconv.Itoa(pid)).Run() == nil {
			n++
		}
	}
	b.log.Printf("pinned %d PostgreSQL backends and Redis processes to CPU %s", n, c.driverCPU)
}

// unpinServices restores Redis's affinity (the backends end with the run).
func (b *bench) unpinServices() {
	if b.pins.redisPID > 0 && b.pins.redisMask != "" {
		_ = exec.Command("taskset", "-a", "-p", b.pins.redisMask, strconv.Itoa(b.pins.redisPID)).Run()
	}
}

// affinity returns the hex CPU mask of pid ("" if unknown).
func affinity(pid int) string {
	out, err := exec.Command("taskset", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(out))
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return ""
}

// infoInt reads an integer field of Redis's INFO text.
func infoInt(info, field string) int {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}
