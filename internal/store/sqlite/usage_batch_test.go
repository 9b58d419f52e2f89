package sqlite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/reqscope"
	"github.com/antigravity/gateway/internal/store"
)

// openBatchStore opens a new store in a temporary directory.
func openBatchStore(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(tb.Context(), filepath.Join(tb.TempDir(), "gateway.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

var (
	batchUsers  = []string{"ann", "ben", "cho", "dee", "eve"}
	batchApps   = []*string{nil, ptrTo("dify-prod"), ptrTo("bff")}
	batchModels = []string{"gpt-4o", "gpt-4o-mini", "o3"}
)

func ptrTo[T any](v T) *T { return &v }

// batchRow is the usage row with id prefix-n: users, apps, models, days and
// amounts vary with n.
func batchRow(prefix string, n int, t0 time.Time) store.UsageRecord {
	return store.UsageRecord{
		RequestID:        prefix + "-" + strconv.Itoa(n),
		CreatedAt:        t0.Add(time.Duration(n) * 7 * time.Minute),
		UserOID:          batchUsers[n%len(batchUsers)],
		KeyID:            ptrTo(int64(n % 11)),
		AppID:            batchApps[n%len(batchApps)],
		Model:            batchModels[n%len(batchModels)],
		Status:           200,
		PromptTokens:     int64(100 + n%997),
		CompletionTokens: int64(10 + n%389),
		CachedTokens:     int64(n % 53),
		ReasoningTokens:  int64(n % 17),
		Cost:             money.Nanos(1_000 + n*37),
		LatencyMs:        int64(200 + n%500),
		TTFTMs:           int64(50 + n%100),
		Stream:           n%2 == 0,
		Attempts:         1,
	}
}

// TestInsertUsageChunks inserts batches of several statements whose request
// ids repeat inside a chunk, across chunks and against stored rows: every id
// is stored once, from its first row, and the rollups equal the sums of the
// stored rows.
func TestInsertUsageChunks(t *testing.T) {
	s := openBatchStore(t)
	ctx := t.Context()
	// Rows every 7 minutes from 20:00 on March 31: the batch spans two months.
	t0 := time.Date(2026, 3, 31, 20, 0, 0, 0, time.UTC)
	row := func(n int) store.UsageRecord { return batchRow("c", n, t0) }
	// again is row n's request id with other amounts, in May: counting it
	// instead of the row stored first shows in every rollup.
	again := func(n int) store.UsageRecord {
		r := row(n)
		r.PromptTokens += 1000
		r.Cost += 1_000_000
		r.CreatedAt = r.CreatedAt.Add(40 * 24 * time.Hour)
		r.UserOID = "again"
		return r
	}

	var stored []store.UsageRecord // ids c-0 … c-9
	for n := range 10 {
		stored = append(stored, row(n))
	}
	if err := s.InsertUsage(ctx, stored); err != nil {
		t.Fatal(err)
	}

	// Three whole chunks and a tail; batch[i] is row 10+i but for the repeats.
	batch := make([]store.UsageRecord, 3*usageChunk+5)
	for i := range batch {
		batch[i] = row(10 + i)
	}
	tail := 3 * usageChunk // the tail's first row
	repeats := []struct {
		at, of int // batch[at] repeats the id of row(of)
	}{
		{5, 10 + 2},                           // in the same chunk
		{usageChunk - 2, 10 + usageChunk - 3}, // the row before
		{usageChunk, 10 + usageChunk - 1},     // across a chunk boundary
		{usageChunk + 3, 10 + 4},              // first chunk, then second
		{2*usageChunk + 7, 10 + usageChunk + 1},
		{tail + 1, 10 + tail}, // inside the tail
		{tail + 2, 10 + 7},    // first chunk, then the tail
		{3, 0},                // stored before
		{2 * usageChunk, 9},   // stored before
		{2*usageChunk + 1, 0}, // stored before, and twice in the batch
	}
	for _, r := range repeats {
		batch[r.at] = again(r.of)
	}
	// An id whose first row in the batch is a changed one: that row is stored.
	batch[tail+3] = again(10 + 5) // batch[5] holds another id

	// want is the stored rows by request id: the first row of each id.
	want := map[string]store.UsageRecord{}
	for _, r := range slices.Concat(stored, batch) {
		if _, ok := want[r.RequestID]; !ok {
			r.CreatedAt = norm(r.CreatedAt)
			want[r.RequestID] = r
		}
	}
	if n := len(want) - len(stored); n != len(batch)-len(repeats) {
		t.Fatalf("the batch has %d new ids, want %d", n, len(batch)-len(repeats))
	}

	if err := s.InsertUsage(ctx, batch); err != nil {
		t.Fatal(err)
	}
	checkUsage(t, s, want)

	t.Run("retry", func(t *testing.T) {
		if err := s.InsertUsage(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertUsage(ctx, slices.Concat(batch[usageChunk:], batch[:usageChunk])); err != nil {
			t.Fatal(err)
		}
		checkUsage(t, s, want)
	})

	t.Run("failure in a later chunk stores nothing", func(t *testing.T) {
		bad := make([]store.UsageRecord, 2*usageChunk+3)
		for i := range bad {
			bad[i] = batchRow("bad", i, t0)
		}
		bad[usageChunk+4].CompletionTokens = -1
		err := s.InsertUsage(ctx, bad)
		chunk := fmt.Sprintf("sqlite: insert usage: rows %d-%d ", usageChunk, 2*usageChunk-1)
		if err == nil || !strings.Contains(err.Error(), chunk) {
			t.Fatalf("err = %v, want %q", err, chunk)
		}
		checkUsage(t, s, want)
	})

	t.Run("sizes around a chunk", func(t *testing.T) {
		for _, n := range []int{1, usageChunk - 1, usageChunk, usageChunk + 1, 2 * usageChunk} {
			rows := make([]store.UsageRecord, n)
			for i := range rows {
				rows[i] = batchRow("size"+strconv.Itoa(n), i, t0)
				r := rows[i]
				r.CreatedAt = norm(r.CreatedAt)
				want[r.RequestID] = r
			}
			if err := s.InsertUsage(ctx, rows); err != nil {
				t.Fatalf("%d rows: %v", n, err)
			}
		}
		checkUsage(t, s, want)
	})
}

// checkUsage checks that the store holds exactly the rows of want and that its
// rollups (every billing view of March to May 2026) are their sums.
func checkUsage(t *testing.T, s *Store, want map[string]store.UsageRecord) {
	t.Helper()
	ctx := t.Context()
	raw, err := s.ListUsage(ctx, store.UsageFilter{Page: store.Page{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != len(want) {
		t.Fatalf("%d stored rows, want %d", len(raw), len(want))
	}
	type sums map[string]store.BillingAmounts
	type month struct {
		total                     store.BillingAmounts
		users, apps, models, days sums
	}
	ref := map[store.Month]*month{}
	for _, r := range raw {
		if w, ok := want[r.RequestID]; !ok || !reflect.DeepEqual(r, w) {
			t.Fatalf("stored row\n %+v\nwant\n %+v", r, w)
		}
		m := store.MonthOf(r.CreatedAt, time.UTC)
		if ref[m] == nil {
			ref[m] = &month{users: sums{}, apps: sums{}, models: sums{}, days: sums{}}
		}
		a := store.AmountsOf(r)
		app := ""
		if r.AppID != nil {
			app = *r.AppID
		}
		ref[m].total = ref[m].total.Add(a)
		ref[m].users[r.UserOID] = ref[m].users[r.UserOID].Add(a)
		ref[m].apps[app] = ref[m].apps[app].Add(a)
		ref[m].models[r.Model] = ref[m].models[r.Model].Add(a)
		day := r.CreatedAt.Format(store.DayLayout)
		ref[m].days[day] = ref[m].days[day].Add(a)
	}
	for mo := range 3 {
		m := store.Month{Year: 2026, Month: time.March + time.Month(mo)}
		w := ref[m]
		if w == nil {
			w = &month{users: sums{}, apps: sums{}, models: sums{}, days: sums{}}
		}
		total, err := s.BillingTotals(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if total != w.total {
			t.Fatalf("%s totals %+v, want %+v", m, total, w.total)
		}
		got := sums{}
		users, _, err := s.BillingByUser(ctx, store.BillingUserFilter{Month: m})
		for _, u := range users {
			got[u.UserOID] = u.BillingAmounts
		}
		checkSums(t, m, "users", got, w.users, err)
		got = sums{}
		apps, err := s.BillingByApp(ctx, m)
		for _, a := range apps {
			got[a.AppID] = a.BillingAmounts
		}
		checkSums(t, m, "apps", got, w.apps, err)
		got = sums{}
		models, err := s.BillingByModel(ctx, m)
		for _, x := range models {
			got[x.Model] = x.BillingAmounts
		}
		checkSums(t, m, "models", got, w.models, err)
		got = sums{}
		days, err := s.BillingByDay(ctx, m)
		for _, d := range days {
			got[d.Day.Format(store.DayLayout)] = d.BillingAmounts
		}
		checkSums(t, m, "days", got, w.days, err)
	}
}

func checkSums(t *testing.T, m store.Month, what string, got, want map[string]store.BillingAmounts, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s by %s:\n got  %+v\n want %+v", m, what, got, want)
	}
}

// BenchmarkInsertUsage inserts batches of new rows, as the usage recorder
// does (a context with a deadline, rows spread over a few days), and reports
// the process's CPU per row: ns/op is mostly the writer's pauses.
func BenchmarkInsertUsage(b *testing.B) {
	// Batches of the embedded default (64) and larger: what a row costs
	// depends on how many share a commit (its WAL frames and the rollups).
	for _, batch := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("rows=%d", batch), func(b *testing.B) {
			s := openBatchStore(b)
			t0 := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
			rows := make([]store.UsageRecord, batch)
			b.ReportAllocs()
			cpu0, cpuOK := processCPU()
			for i := 0; b.Loop(); i++ {
				for j := range rows {
					rows[j] = batchRow("b", i*batch+j, t0)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err := s.InsertUsage(ctx, rows)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
			if cpu1, ok := processCPU(); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N)/float64(batch), "cpu-ns/row")
			}
		})
	}
}

// BenchmarkInsertUsageIDOrder writes 64-row batches into a table that
// already holds 64k rows, with request ids as the gateway made them before
// (random) and as it makes them now (time first, reqscope.NewID): random ids
// put each row on another page of the request-id index, and the commit
// writes every page it touched.
func BenchmarkInsertUsageIDOrder(b *testing.B) {
	const batch, prefill = 64, 1000
	for _, order := range []string{"random", "time"} {
		b.Run("ids="+order, func(b *testing.B) {
			s := openBatchStore(b)
			t0 := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
			rows := make([]store.UsageRecord, batch)
			var rnd [14]byte
			fill := func(i int) {
				for j := range rows {
					n := i*batch + j
					created := t0.Add(time.Duration(n) * time.Millisecond)
					rows[j] = batchRow("", n, t0)
					rows[j].CreatedAt, rows[j].AppID = created, nil
					rows[j].UserOID, rows[j].Model = batchUsers[0], batchModels[0]
					if order == "time" {
						rows[j].RequestID = reqscope.NewID(created)
					} else {
						_, _ = rand.Read(rnd[:])
						rows[j].RequestID = "req_" + hex.EncodeToString(rnd[:])
					}
				}
			}
			ctx := context.Background()
			for i := range prefill {
				fill(i)
				if err := s.InsertUsage(ctx, rows); err != nil {
					b.Fatal(err)
				}
			}
			cpu0, cpuOK := processCPU()
			for i := prefill; b.Loop(); i++ {
				fill(i)
				if err := s.InsertUsage(ctx, rows); err != nil {
					b.Fatal(err)
				}
			}
			if cpu1, ok := processCPU(); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N)/float64(batch), "cpu-ns/row")
			}
		})
	}
}

// processCPU is the CPU time (user + system, all threads) of this process so
// far, from /proc/self/stat (Linux only, 10 ms resolution): the pacer's
// sleeps make ns/op mostly waiting.
func processCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14, in USER_HZ (100) ticks
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}
