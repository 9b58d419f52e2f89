package storetest

import (
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

func testUsers(t *testing.T, s store.Store) {
	c := ctx(t)
	before := time.Now()
	u := try(s.CreateUser(c, store.User{
		OID: "u-alice", Email: "alice@example.com", DisplayName: "Alice",
		Role: store.RoleAdmin, Active: true,
		// Ignored: the store assigns its own timestamps.
		CreatedAt: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC),
	})).must(t)
	after := time.Now()
	recent(t, u.CreatedAt, before, after, "CreatedAt")
	equal(t, u.UpdatedAt, u.CreatedAt, "UpdatedAt after create")
	if u.DeletedAt != nil {
		t.Fatalf("DeletedAt = %v, want nil", u.DeletedAt)
	}
	equal(t, try(s.GetUser(c, "u-alice")).must(t), u, "GetUser after CreateUser")

	t.Run("defaults and inactive", func(t *testing.T) {
		v := try(s.CreateUser(c, store.User{OID: "u-bob"})).must(t)
		got := try(s.GetUser(c, "u-bob")).must(t)
		equal(t, got, v, "GetUser")
		equal(t, got.Role, store.RoleUser, "default role")
		equal(t, got.Active, false, "Active as given")
		equal(t, got.Email, "", "Email")
	})

	t.Run("conflict", func(t *testing.T) {
		_, err := s.CreateUser(c, store.User{OID: "u-alice", Role: store.RoleUser})
		wantErr(t, err, store.ErrConflict)
	})

	t.Run("invalid", func(t *testing.T) {
		_, err := s.CreateUser(c, store.User{OID: "u-x", Role: "root"})
		wantFail(t, err, "invalid role")
		_, err = s.CreateUser(c, store.User{OID: "", Role: store.RoleUser})
		wantFail(t, err, "empty oid")
		_, err = s.CreateUser(c, store.User{OID: "0123456789012345678901234567890123456", Role: store.RoleUser})
		wantFail(t, err, "37-character oid")
		_, err = s.GetUser(c, "u-x")
		wantErr(t, err, store.ErrNotFound)
	})

	t.Run("not found", func(t *testing.T) {
		_, err := s.GetUser(c, "nobody")
		wantErr(t, err, store.ErrNotFound)
		_, err = s.UpdateUser(c, "nobody", store.UserPatch{Email: ptr("x@y")})
		wantErr(t, err, store.ErrNotFound)
		_, err = s.UpdateUser(c, "nobody", store.UserPatch{})
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, s.DeleteUser(c, "nobody"), store.ErrNotFound)
	})

	t.Run("update", func(t *testing.T) {
		time.Sleep(2 * time.Millisecond)
		got := try(s.UpdateUser(c, "u-alice", store.UserPatch{
			DisplayName: ptr("Alice A."), Role: ptr(store.RoleUser),
		})).must(t)
		want := u
		want.DisplayName, want.Role, want.UpdatedAt = "Alice A.", store.RoleUser, got.UpdatedAt
		equal(t, got, want, "UpdateUser result")
		if !got.UpdatedAt.After(u.UpdatedAt) {
			t.Fatalf("UpdatedAt %v did not move past %v", got.UpdatedAt, u.UpdatedAt)
		}
		equal(t, try(s.GetUser(c, "u-alice")).must(t), got, "GetUser after update")

		got = try(s.UpdateUser(c, "u-alice", store.UserPatch{Email: ptr("a@b.c"), Active: ptr(false)})).must(t)
		equal(t, got.Email, "a@b.c", "Email")
		equal(t, got.Active, false, "Active")
		equal(t, got.DisplayName, "Alice A.", "DisplayName kept")

		same := try(s.UpdateUser(c, "u-alice", store.UserPatch{})).must(t)
		equal(t, same, got, "empty patch")

		_, err := s.UpdateUser(c, "u-alice", store.UserPatch{Role: ptr(store.Role("boss"))})
		wantFail(t, err, "invalid role patch")
		equal(t, try(s.GetUser(c, "u-alice")).must(t).Role, store.RoleUser, "role after refused patch")
	})

	t.Run("list by oid", func(t *testing.T) {
		mkUser(t, s, "u-carol")
		mkUser(t, s, "a-first")
		got := try(s.ListUsers(c, store.Page{})).must(t)
		var oids []string
		for _, u := range got {
			oids = append(oids, u.OID)
		}
		equal(t, oids, []string{"a-first", "u-alice", "u-bob", "u-carol"}, "ListUsers order")
		equal(t, got[1], try(s.GetUser(c, "u-alice")).must(t), "listed user")
		got = try(s.ListUsers(c, store.Page{Limit: 2, Offset: 1})).must(t)
		equal(t, []string{got[0].OID, got[1].OID}, []string{"u-alice", "u-bob"}, "page")
	})
}

func testUserSoftDelete(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "u-del")
	mkUser(t, s, "u-keep")
	k1 := try(s.CreateKey(c, store.APIKey{UserOID: "u-del", Hash: hash("d1"), Active: true})).must(t)
	k2 := try(s.CreateKey(c, store.APIKey{UserOID: "u-del", Hash: hash("d2"), Active: true})).must(t)
	kk := try(s.CreateKey(c, store.APIKey{UserOID: "u-keep", Hash: hash("k1"), Active: true})).must(t)
	app := try(s.CreateApp(c, store.App{AppID: "del-app", Name: "x", OwnerID: "u-del", IsActive: true})).must(t)

	before := time.Now()
	ok(t, s.DeleteUser(c, "u-del"))
	after := time.Now()

	got := try(s.GetUser(c, "u-del")).must(t)
	if got.DeletedAt == nil {
		t.Fatal("DeletedAt is nil after DeleteUser")
	}
	recent(t, *got.DeletedAt, before, after, "DeletedAt")
	equal(t, got.Active, false, "Active after delete")
	equal(t, got.Email, u.Email, "row kept")
	equal(t, got.CreatedAt, u.CreatedAt, "CreatedAt kept")

	for _, k := range []store.APIKey{k1, k2} {
		equal(t, try(s.GetKey(c, k.ID)).must(t).Active, false, "key of deleted user active")
		ko := try(s.KeyByHash(c, k.Hash)).must(t)
		equal(t, ko.Key.Active, false, "KeyByHash key active")
		equal(t, ko.User.DeletedAt != nil, true, "KeyByHash owner deleted")
	}
	equal(t, try(s.GetKey(c, kk.ID)).must(t).Active, true, "other user's key")

	list := try(s.ListUsers(c, store.Page{})).must(t)
	if len(list) != 1 || list[0].OID != "u-keep" {
		t.Fatalf("ListUsers after delete = %+v, want only u-keep", list)
	}
	// Keys of the deleted user are still listed for history.
	equal(t, len(try(s.ListKeys(c, "u-del", store.Page{})).must(t)), 2, "keys of deleted user")
	// The app owned by the user stays (billing history); it is not touched.
	equal(t, try(s.GetApp(c, "del-app")).must(t), app, "app of deleted user")

	wantErr(t, s.DeleteUser(c, "u-del"), store.ErrNotFound)
	_, err := s.UpdateUser(c, "u-del", store.UserPatch{Active: ptr(true)})
	wantErr(t, err, store.ErrNotFound)
	_, err = s.CreateUser(c, store.User{OID: "u-del", Role: store.RoleUser})
	wantErr(t, err, store.ErrConflict)
	_, err = s.CreateKey(c, store.APIKey{UserOID: "u-del", Hash: hash("d3"), Active: true})
	wantErr(t, err, store.ErrReferenced)
	_, err = s.CreateApp(c, store.App{AppID: "del-app-2", Name: "x", OwnerID: "u-del", IsActive: true})
	wantErr(t, err, store.ErrReferenced)
}
