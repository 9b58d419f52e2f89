package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

func testApps(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "app-owner")

	t.Run("missing owner", func(t *testing.T) {
		_, err := s.CreateApp(c, store.App{AppID: "orphan", Name: "Orphan", OwnerID: "nobody", IsActive: true})
		wantErr(t, err, store.ErrReferenced)
		_, err = s.GetApp(c, "orphan")
		wantErr(t, err, store.ErrNotFound)
	})

	before := time.Now()
	a := try(s.CreateApp(c, store.App{
		AppID: "dify-prod", Name: "Dify production", Description: "the Dify workflows",
		OwnerID: "app-owner", IsActive: true,
	})).must(t)
	after := time.Now()
	recent(t, a.CreatedAt, before, after, "CreatedAt")
	equal(t, a.UpdatedAt, a.CreatedAt, "UpdatedAt")
	equal(t, try(s.GetApp(c, "dify-prod")).must(t), a, "GetApp")

	t.Run("conflict", func(t *testing.T) {
		_, err := s.CreateApp(c, store.App{AppID: "dify-prod", Name: "again", OwnerID: "app-owner", IsActive: true})
		wantErr(t, err, store.ErrConflict)
	})

	t.Run("limits", func(t *testing.T) {
		_, err := s.CreateApp(c, store.App{AppID: strings.Repeat("a", 51), Name: "x", OwnerID: "app-owner"})
		wantFail(t, err, "51-character app_id")
		_, err = s.CreateApp(c, store.App{AppID: "long-name", Name: strings.Repeat("n", 101), OwnerID: "app-owner"})
		wantFail(t, err, "101-character name")
		_, err = s.CreateApp(c, store.App{AppID: "", Name: "x", OwnerID: "app-owner"})
		wantFail(t, err, "empty app_id")
		max := try(s.CreateApp(c, store.App{AppID: strings.Repeat("a", 50), Name: strings.Repeat("n", 100), OwnerID: "app-owner"})).must(t)
		equal(t, try(s.GetApp(c, max.AppID)).must(t), max, "app at the limits")
		ok(t, s.DeleteApp(c, max.AppID))
	})

	t.Run("empty description", func(t *testing.T) {
		b := try(s.CreateApp(c, store.App{AppID: "bff", Name: "BFF", OwnerID: "app-owner", IsActive: false})).must(t)
		equal(t, try(s.GetApp(c, "bff")).must(t), b, "GetApp")
		equal(t, b.Description, "", "Description")
		equal(t, b.IsActive, false, "IsActive as given")
	})

	t.Run("toggle", func(t *testing.T) {
		time.Sleep(2 * time.Millisecond)
		off := try(s.SetAppActive(c, "dify-prod", false)).must(t)
		want := a
		want.IsActive, want.UpdatedAt = false, off.UpdatedAt
		equal(t, off, want, "SetAppActive(false)")
		if !off.UpdatedAt.After(a.UpdatedAt) {
			t.Fatal("UpdatedAt did not move")
		}
		equal(t, try(s.GetApp(c, "dify-prod")).must(t).IsActive, false, "GetApp after disable")
		on := try(s.SetAppActive(c, "dify-prod", true)).must(t)
		equal(t, on.IsActive, true, "SetAppActive(true)")
		equal(t, try(s.GetApp(c, "dify-prod")).must(t), on, "GetApp after enable")
		_, err := s.SetAppActive(c, "nope", true)
		wantErr(t, err, store.ErrNotFound)
	})

	t.Run("list by id", func(t *testing.T) {
		try(s.CreateApp(c, store.App{AppID: "a-first", Name: "first", OwnerID: "app-owner", IsActive: true})).must(t)
		got := try(s.ListApps(c, store.Page{})).must(t)
		var ids []string
		for _, a := range got {
			ids = append(ids, a.AppID)
		}
		equal(t, ids, []string{"a-first", "bff", "dify-prod"}, "ListApps order")
		equal(t, got[2], try(s.GetApp(c, "dify-prod")).must(t), "listed app")
		page := try(s.ListApps(c, store.Page{Limit: 1, Offset: 1})).must(t)
		if len(page) != 1 || page[0].AppID != "bff" {
			t.Fatalf("page = %+v, want bff only", page)
		}
	})

	t.Run("delete", func(t *testing.T) {
		ok(t, s.DeleteApp(c, "bff"))
		_, err := s.GetApp(c, "bff")
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, s.DeleteApp(c, "bff"), store.ErrNotFound)
		// Usage rows keep a deleted app's id: it is a logical reference only.
		ok(t, s.InsertUsage(c, []store.UsageRecord{{RequestID: "r-app", CreatedAt: base(), UserOID: "app-owner",
			AppID: ptr("dify-prod"), Model: "m", Status: 200, Attempts: 1}}))
		ok(t, s.DeleteApp(c, "dify-prod"))
		got := try(s.ListUsage(c, store.UsageFilter{AppID: "dify-prod"})).must(t)
		if len(got) != 1 || got[0].RequestID != "r-app" {
			t.Fatalf("usage of deleted app = %+v", got)
		}
	})
}
