package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

func testKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	owner := mkUser(t, s, "k-owner")
	mkUser(t, s, "k-other")

	t.Run("missing user", func(t *testing.T) {
		_, err := s.CreateKey(c, store.APIKey{UserOID: "nobody", Hash: hash("x"), Active: true})
		wantErr(t, err, store.ErrReferenced)
	})

	expires := base().Add(30 * 24 * time.Hour)
	before := time.Now()
	k := try(s.CreateKey(c, store.APIKey{
		ID: 999999, UserOID: "k-owner", Hash: hash("secret-1"), Prefix: "sk-gate-abcd",
		Name: "laptop", ExpiresAt: &expires, Active: true,
		AllowedModels: []string{"gpt-4o", "gpt-4o-mini"},
	})).must(t)
	after := time.Now()
	if k.ID <= 0 || k.ID == 999999 {
		t.Fatalf("ID = %d, want a store-assigned positive id", k.ID)
	}
	recent(t, k.CreatedAt, before, after, "CreatedAt")
	equal(t, *k.ExpiresAt, micro(expires), "ExpiresAt (microseconds, UTC)")

	t.Run("round trip", func(t *testing.T) {
		got := try(s.GetKey(c, k.ID)).must(t)
		equal(t, got, k, "GetKey")
		equal(t, got.AllowedModels, []string{"gpt-4o", "gpt-4o-mini"}, "AllowedModels")
		equal(t, got.Hash, hash("secret-1"), "Hash")
		if got.LastUsedAt != nil {
			t.Fatalf("LastUsedAt = %v, want nil", got.LastUsedAt)
		}
	})

	t.Run("nil and empty allowed models", func(t *testing.T) {
		for i, models := range [][]string{nil, {}} {
			n := try(s.CreateKey(c, store.APIKey{UserOID: "k-owner", Hash: hash("am" + pad3(i)), Active: true, AllowedModels: models})).must(t)
			got := try(s.GetKey(c, n.ID)).must(t)
			if got.AllowedModels != nil {
				t.Fatalf("AllowedModels %#v read back as %#v, want nil", models, got.AllowedModels)
			}
			if got.ExpiresAt != nil {
				t.Fatalf("ExpiresAt = %v, want nil", got.ExpiresAt)
			}
		}
	})

	t.Run("duplicate hash", func(t *testing.T) {
		_, err := s.CreateKey(c, store.APIKey{UserOID: "k-other", Hash: hash("secret-1"), Active: true})
		wantErr(t, err, store.ErrConflict)
	})

	t.Run("bad hash", func(t *testing.T) {
		for _, h := range []string{"", "abc", strings.ToUpper(hash("u")), hash("u")[:63] + "g"} {
			_, err := s.CreateKey(c, store.APIKey{UserOID: "k-owner", Hash: h, Active: true})
			wantFail(t, err, "hash "+h)
		}
	})

	t.Run("by hash", func(t *testing.T) {
		ko := try(s.KeyByHash(c, hash("secret-1"))).must(t)
		equal(t, ko.Key, k, "KeyByHash key")
		equal(t, ko.User, owner, "KeyByHash owner")
		_, err := s.KeyByHash(c, hash("nope"))
		wantErr(t, err, store.ErrNotFound)
	})

	t.Run("inactive key and owner still found", func(t *testing.T) {
		n := try(s.CreateKey(c, store.APIKey{UserOID: "k-other", Hash: hash("off"), Active: false})).must(t)
		try(s.UpdateUser(c, "k-other", store.UserPatch{Active: ptr(false)})).must(t)
		ko := try(s.KeyByHash(c, hash("off"))).must(t)
		equal(t, ko.Key.ID, n.ID, "key id")
		equal(t, ko.Key.Active, false, "key active")
		equal(t, ko.User.OID, "k-other", "owner")
		equal(t, ko.User.Active, false, "owner active")
	})

	t.Run("revoke", func(t *testing.T) {
		ok(t, s.RevokeKey(c, k.ID))
		got := try(s.GetKey(c, k.ID)).must(t)
		want := k
		want.Active = false
		equal(t, got, want, "key after revoke")
		equal(t, try(s.KeyByHash(c, k.Hash)).must(t).Key.Active, false, "KeyByHash after revoke")
		ok(t, s.RevokeKey(c, k.ID)) // idempotent
		wantErr(t, s.RevokeKey(c, 987654321), store.ErrNotFound)
		_, err := s.GetKey(c, 987654321)
		wantErr(t, err, store.ErrNotFound)
	})

	t.Run("list newest first", func(t *testing.T) {
		lister := mkUser(t, s, "k-lister")
		var ids []int64
		for i := range 5 {
			n := try(s.CreateKey(c, store.APIKey{UserOID: lister.OID, Hash: hash("l" + pad3(i)), Name: pad3(i), Active: true})).must(t)
			ids = append(ids, n.ID)
		}
		got := try(s.ListKeys(c, lister.OID, store.Page{})).must(t)
		var gotIDs []int64
		for _, k := range got {
			gotIDs = append(gotIDs, k.ID)
		}
		equal(t, gotIDs, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}, "ListKeys order")
		equal(t, got[0], try(s.GetKey(c, ids[4])).must(t), "listed key")
		page := try(s.ListKeys(c, lister.OID, store.Page{Limit: 2, Offset: 2})).must(t)
		equal(t, []int64{page[0].ID, page[1].ID}, []int64{ids[2], ids[1]}, "ListKeys page")
		empty := try(s.ListKeys(c, "nobody", store.Page{})).must(t)
		if empty == nil || len(empty) != 0 {
			t.Fatalf("ListKeys of unknown user = %#v, want empty non-nil", empty)
		}
	})
}

func testTouchKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "t-user")
	a := try(s.CreateKey(c, store.APIKey{UserOID: "t-user", Hash: hash("ta"), Active: true})).must(t)
	b := try(s.CreateKey(c, store.APIKey{UserOID: "t-user", Hash: hash("tb"), Active: true})).must(t)
	d := try(s.CreateKey(c, store.APIKey{UserOID: "t-user", Hash: hash("td"), Active: true})).must(t)

	lastUsed := func(id int64) *time.Time {
		t.Helper()
		return try(s.GetKey(c, id)).must(t).LastUsedAt
	}

	ok(t, s.TouchKeys(c, nil))
	ok(t, s.TouchKeys(c, map[int64]time.Time{}))

	t1 := base()
	ok(t, s.TouchKeys(c, map[int64]time.Time{a.ID: t1, b.ID: t1.Add(time.Minute), 987654321: t1}))
	equal(t, lastUsed(a.ID), ptr(micro(t1)), "a after first touch")
	equal(t, lastUsed(b.ID), ptr(micro(t1.Add(time.Minute))), "b after first touch")
	if lastUsed(d.ID) != nil {
		t.Fatal("untouched key got a last_used_at")
	}

	// Older times never move it back; newer ones move it forward.
	ok(t, s.TouchKeys(c, map[int64]time.Time{a.ID: t1.Add(-time.Hour), b.ID: t1.Add(2 * time.Minute)}))
	equal(t, lastUsed(a.ID), ptr(micro(t1)), "a after older touch")
	equal(t, lastUsed(b.ID), ptr(micro(t1.Add(2*time.Minute))), "b after newer touch")

	// Sub-microsecond steps and non-UTC zones are handled as instants.
	zone := time.FixedZone("UTC+9", 9*3600)
	later := t1.Add(time.Hour).In(zone)
	ok(t, s.TouchKeys(c, map[int64]time.Time{a.ID: later}))
	got := lastUsed(a.ID)
	equal(t, got, ptr(micro(later)), "a after zoned touch")
	if !isUTC(*got) {
		t.Fatalf("LastUsedAt %v is not UTC", *got)
	}

	// Touching a revoked key still records use (it is a history column).
	ok(t, s.RevokeKey(c, d.ID))
	ok(t, s.TouchKeys(c, map[int64]time.Time{d.ID: t1}))
	equal(t, lastUsed(d.ID), ptr(micro(t1)), "revoked key touch")
}
