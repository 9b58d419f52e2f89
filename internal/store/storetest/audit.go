package storetest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

// sameJSON reports whether two JSON documents are equal as values (PostgreSQL's
// JSONB does not keep spacing or key order); nil equals nil only.
func sameJSON(t *testing.T, got, want json.RawMessage) bool {
	t.Helper()
	if want == nil || got == nil {
		return want == nil && got == nil
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("stored JSON %q does not parse: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("test JSON %q does not parse: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

func equalAudit(t *testing.T, got, want store.AuditEntry, what string) {
	t.Helper()
	if !sameJSON(t, got.Before, want.Before) || !sameJSON(t, got.After, want.After) {
		t.Fatalf("%s: JSON got before=%s after=%s, want before=%s after=%s",
			what, got.Before, got.After, want.Before, want.After)
	}
	got.Before, got.After, want.Before, want.After = nil, nil, nil, nil
	equal(t, got, want, what)
}

func testAudit(t *testing.T, s store.Store) {
	c := ctx(t)

	before := time.Now()
	first := try(s.InsertAudit(c, store.AuditEntry{
		Actor: "admin-1", Action: "user.create", TargetType: "user", Target: "u1",
		After: json.RawMessage(`{"oid": "u1", "role":"user", "n": [1, 2, {"x": null}]}`), ClientAddr: "10.0.0.1",
	})).must(t)
	after := time.Now()
	if first.ID <= 0 {
		t.Fatalf("ID = %d", first.ID)
	}
	recent(t, first.Time, before, after, "assigned Time")
	if first.Before != nil {
		t.Fatalf("Before = %s, want nil", first.Before)
	}

	// Relative to now so that the entry inserted above is the newest; with
	// nanoseconds so truncation to microseconds is exercised.
	t0 := time.Now().UTC().Add(-10 * 24 * time.Hour).Truncate(time.Second).Add(987654321)
	entries := []store.AuditEntry{
		{Time: t0, Actor: "admin-1", Action: "model.update", TargetType: "model", Target: "gpt-4o",
			Before: json.RawMessage(`{"routing":""}`), After: json.RawMessage(`{"routing":"latency"}`)},
		{Time: t0.Add(time.Minute), Actor: "admin-2", Action: "app.create", TargetType: "app", Target: "dify",
			After: json.RawMessage(`{"app_id":"dify","name":"日本語 \"quoted\""}`)},
		{Time: t0.Add(2 * time.Minute), Actor: "admin-1", Action: "app.delete", TargetType: "app", Target: "dify",
			Before: json.RawMessage(`{"app_id":"dify"}`)},
		{Time: t0.Add(3 * time.Minute).In(time.FixedZone("X", -5*3600)), Actor: "admin-2", Action: "key.revoke", TargetType: "key", Target: "17"},
	}
	var stored []store.AuditEntry
	for _, e := range entries {
		got := try(s.InsertAudit(c, e)).must(t)
		want := e
		want.ID, want.Time = got.ID, micro(e.Time)
		equalAudit(t, got, want, "InsertAudit result")
		stored = append(stored, got)
	}

	t.Run("invalid JSON refused", func(t *testing.T) {
		_, err := s.InsertAudit(c, store.AuditEntry{Actor: "x", Action: "y", After: json.RawMessage(`{nope`)})
		wantFail(t, err, "invalid JSON")
	})

	ids := func(es []store.AuditEntry) []int64 {
		out := []int64{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	cases := []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"all newest first", store.AuditFilter{}, []int64{first.ID, stored[3].ID, stored[2].ID, stored[1].ID, stored[0].ID}},
		{"actor", store.AuditFilter{Actor: "admin-2"}, []int64{stored[3].ID, stored[1].ID}},
		{"action", store.AuditFilter{Action: "app.delete"}, []int64{stored[2].ID}},
		{"target type", store.AuditFilter{TargetType: "app"}, []int64{stored[2].ID, stored[1].ID}},
		{"target", store.AuditFilter{TargetType: "model", Target: "gpt-4o"}, []int64{stored[0].ID}},
		{"since inclusive", store.AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(time.Hour)}, []int64{stored[3].ID, stored[2].ID, stored[1].ID}},
		{"until exclusive", store.AuditFilter{Until: micro(t0.Add(2 * time.Minute))}, []int64{stored[1].ID, stored[0].ID}},
		{"since and until", store.AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []int64{stored[2].ID, stored[1].ID}},
		{"combined none", store.AuditFilter{Actor: "admin-1", Action: "key.revoke"}, []int64{}},
		{"page", store.AuditFilter{Page: store.Page{Limit: 2, Offset: 1}}, []int64{stored[3].ID, stored[2].ID}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			equal(t, ids(try(s.ListAudit(c, tc.f)).must(t)), tc.want, "ListAudit ids")
		})
	}

	t.Run("listed entries round trip", func(t *testing.T) {
		got := try(s.ListAudit(c, store.AuditFilter{Since: t0, Until: t0.Add(time.Hour)})).must(t)
		for i, e := range got {
			equalAudit(t, e, stored[len(stored)-1-i], "listed entry")
			if !isUTC(e.Time) {
				t.Fatalf("Time %v not UTC", e.Time)
			}
		}
	})

	t.Run("same time newest id first", func(t *testing.T) {
		tt := t0.Add(24 * time.Hour)
		a := try(s.InsertAudit(c, store.AuditEntry{Time: tt, Actor: "tie", Action: "a"})).must(t)
		b := try(s.InsertAudit(c, store.AuditEntry{Time: tt, Actor: "tie", Action: "b"})).must(t)
		equal(t, ids(try(s.ListAudit(c, store.AuditFilter{Actor: "tie"})).must(t)), []int64{b.ID, a.ID}, "tie order")
	})
}
