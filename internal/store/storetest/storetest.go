// Package storetest is the contract suite every store.Store back-end must pass.
// A back-end's test calls Run with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

// Run runs the whole contract suite. open must return a new, empty, migrated
// store for each call; it should register its own cleanup (Close) with t.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	areas := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Basics", testBasics},
		{"Users", testUsers},
		{"UserSoftDelete", testUserSoftDelete},
		{"Keys", testKeys},
		{"TouchKeys", testTouchKeys},
		{"Models", testModels},
		{"Endpoints", testEndpoints},
		{"Apps", testApps},
		{"Audit", testAudit},
		{"UsageInsert", testUsageInsert},
		{"UsageFilters", testUsageFilters},
		{"UsagePages", testUsagePages},
		{"Pagination", testPagination},
	}
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) {
			a.fn(t, open(t))
		})
	}
}

// base is a fixed instant with sub-microsecond digits, so the suite checks that
// back-ends truncate to microseconds.
func base() time.Time { return time.Date(2026, 3, 10, 12, 0, 0, 123456789, time.UTC) }

func ctx(t *testing.T) context.Context { return t.Context() }

// result holds the two results of a store call until must checks them.
type result[T any] struct {
	v   T
	err error
}

// try captures a (value, error) pair: try(s.GetUser(c, oid)).must(t).
func try[T any](v T, err error) result[T] { return result[T]{v, err} }

// must fails the test on the error and returns the value.
func (r result[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatalf("unexpected error: %v", r.err)
	}
	return r.v
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantErr checks that err matches target (errors.Is).
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

// wantFail checks that err is non-nil.
func wantFail(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want one", what)
	}
}

func equal[T any](t *testing.T, got, want T, what string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// micro is t as a store returns it: UTC, truncated to microseconds.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func ptr[T any](v T) *T { return &v }

// isUTC reports whether t carries the UTC location.
func isUTC(t time.Time) bool { return t.Location() == time.UTC }

// recent checks that a store-assigned timestamp is in UTC, at microsecond
// precision and within the window around the call.
func recent(t *testing.T, got, before, after time.Time, what string) {
	t.Helper()
	if !isUTC(got) {
		t.Fatalf("%s: %v is not UTC", what, got)
	}
	if got.Nanosecond()%1000 != 0 {
		t.Fatalf("%s: %v has sub-microsecond digits", what, got)
	}
	if got.Before(before.Truncate(time.Microsecond).Add(-time.Second)) || got.After(after.Add(time.Second)) {
		t.Fatalf("%s: %v is not between %v and %v", what, got, before, after)
	}
}

// hash returns the SHA-256 hex of s, the form the store keeps.
func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// mkUser creates an active user with role user.
func mkUser(t *testing.T, s store.Store, oid string) store.User {
	t.Helper()
	return try(s.CreateUser(ctx(t), store.User{
		OID: oid, Email: oid + "@example.com", DisplayName: "User " + oid,
		Role: store.RoleUser, Active: true,
	})).must(t)
}

// mkModel creates an active model.
func mkModel(t *testing.T, s store.Store, name string) store.Model {
	t.Helper()
	return try(s.CreateModel(ctx(t), store.Model{
		Name: name, ContextWindow: 128000, MaxOutputTokens: 4096,
		InputPrice: 2_500_000, OutputPrice: 10_000_000, CachedInputPrice: 1_250_000, Active: true,
	})).must(t)
}

func testBasics(t *testing.T, s store.Store) {
	ok(t, s.Ping(ctx(t)))
	switch d := s.Dialect(); d {
	case "sqlite", "postgres":
	default:
		t.Fatalf("Dialect() = %q, want sqlite or postgres", d)
	}
}

// testPagination checks the page bounds on a list other than usage: default
// 100, offset past the end, negative offset.
func testPagination(t *testing.T, s store.Store) {
	c := ctx(t)
	for i := range 105 {
		mkUser(t, s, "p-"+pad3(i))
	}
	cases := []struct {
		name      string
		page      store.Page
		wantLen   int
		wantFirst string
	}{
		{"default limit", store.Page{}, 100, "p-000"},
		{"explicit limit", store.Page{Limit: 7}, 7, "p-000"},
		{"offset", store.Page{Limit: 3, Offset: 10}, 3, "p-010"},
		{"tail", store.Page{Limit: 50, Offset: 100}, 5, "p-100"},
		{"negative offset", store.Page{Limit: 2, Offset: -5}, 2, "p-000"},
		{"negative limit", store.Page{Limit: -1}, 100, "p-000"},
		{"past the end", store.Page{Limit: 10, Offset: 500}, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := try(s.ListUsers(c, tc.page)).must(t)
			if got == nil {
				t.Fatal("ListUsers returned a nil slice, want an empty one")
			}
			if len(got) != tc.wantLen {
				t.Fatalf("len = %d, want %d", len(got), tc.wantLen)
			}
			if tc.wantLen > 0 && got[0].OID != tc.wantFirst {
				t.Fatalf("first = %q, want %q", got[0].OID, tc.wantFirst)
			}
		})
	}
}

func pad3(i int) string {
	b := []byte{'0' + byte(i/100%10), '0' + byte(i/10%10), '0' + byte(i%10)}
	return string(b)
}
