package delegation

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/store"
)

// fakeDir is a hand-written Directory over two maps; it counts lookups and can
// be made to fail.
type fakeDir struct {
	users map[string]store.User
	apps  map[string]store.App
	fail  error

	mu      sync.Mutex
	lookups int
}

func (d *fakeDir) User(_ context.Context, oid string) (store.User, error) {
	d.count()
	if d.fail != nil {
		return store.User{}, d.fail
	}
	u, ok := d.users[oid]
	if !ok {
		return u, store.ErrNotFound
	}
	return u, nil
}

func (d *fakeDir) App(_ context.Context, id string) (store.App, error) {
	d.count()
	if d.fail != nil {
		return store.App{}, d.fail
	}
	a, ok := d.apps[id]
	if !ok {
		return a, store.ErrNotFound
	}
	return a, nil
}

func (d *fakeDir) count() {
	d.mu.Lock()
	d.lookups++
	d.mu.Unlock()
}

// Users: the owner of the apps, another key holder, an admin, the end users
// named by each place, an inactive and a deleted user.
func newFakeDir() *fakeDir {
	deleted := time.Now()
	d := &fakeDir{users: map[string]store.User{}, apps: map[string]store.App{}}
	for _, oid := range []string{"owner", "other", "root", "alice", "q-user", "b-user", "m-user", "h-user"} {
		d.users[oid] = store.User{OID: oid, Role: store.RoleUser, Active: true}
	}
	d.users["root"] = store.User{OID: "root", Role: store.RoleAdmin, Active: true}
	d.users["bob"] = store.User{OID: "bob", Active: false}
	d.users["carol"] = store.User{OID: "carol", Active: false, DeletedAt: &deleted}
	for _, id := range []string{"app", "q-app", "b-app", "m-app", "h-app"} {
		d.apps[id] = store.App{AppID: id, OwnerID: "owner", IsActive: true}
	}
	d.apps["off"] = store.App{AppID: "off", OwnerID: "owner", IsActive: false}
	d.apps["theirs"] = store.App{AppID: "theirs", OwnerID: "other", IsActive: true}
	return d
}

var (
	ownerKey = &auth.Principal{KeyID: 11, UserOID: "owner", Role: store.RoleUser}
	otherKey = &auth.Principal{KeyID: 22, UserOID: "other", Role: store.RoleUser}
	adminKey = &auth.Principal{KeyID: 33, UserOID: "root", Role: store.RoleAdmin}
)

// req describes a request by place; empty values are not sent.
type req struct {
	key         *auth.Principal
	qUser, qApp string
	bUser, bApp string
	mUser, mApp string
	hUser, hApp string
	rawQuery    string // overrides the query built from qUser/qApp
	rawBody     string // extra top-level fields, e.g. `"x_user_oid":5`
	header      http.Header
	noMessages  bool
}

// input builds the Input of r: a chat body with a system message and a user
// message (embedding mUser/mApp when either is set), plus a "user" field.
func (r req) input(t *testing.T) Input {
	t.Helper()
	q := url.Values{"api-version": {"1"}}
	if r.qUser != "" {
		q.Set(ParamUserOID, r.qUser)
	}
	if r.qApp != "" {
		q.Set(ParamAppID, r.qApp)
	}
	if r.rawQuery != "" {
		var err error
		if q, err = url.ParseQuery(r.rawQuery); err != nil {
			t.Fatal(err)
		}
	}
	body := `{"model":"gpt-4o","user":"end-user-7"`
	if !r.noMessages {
		content := jstr("Hello")
		if r.mUser != "" || r.mApp != "" {
			var parts []string
			if r.mUser != "" {
				parts = append(parts, `"x_user_oid": "`+r.mUser+`"`)
			}
			if r.mApp != "" {
				parts = append(parts, `"x_app_id": "`+r.mApp+`"`)
			}
			content = jstr(strings.Join(append(parts, `"message": "Hello"`), ", "))
		}
		body += `,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":` + content + `}]`
	}
	if r.bUser != "" {
		body += `,"x_user_oid":` + jstr(r.bUser)
	}
	if r.bApp != "" {
		body += `,"x_app_id":` + jstr(r.bApp)
	}
	if r.rawBody != "" {
		body += "," + r.rawBody
	}
	body += "}"
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &fields); err != nil {
		t.Fatalf("test body %s: %v", body, err)
	}
	h := http.Header{}
	for k, v := range r.header {
		h[k] = v
	}
	if r.hUser != "" {
		h.Set(HeaderUserOID, r.hUser)
	}
	if r.hApp != "" {
		h.Set(HeaderAppID, r.hApp)
	}
	key := r.key
	if key == nil {
		key = ownerKey
	}
	return Input{Principal: key, Query: q, Fields: fields, Header: h}
}

// checkClean asserts nothing of the delegation is left for the provider.
func checkClean(t *testing.T, in Input) {
	t.Helper()
	for _, name := range []string{ParamUserOID, ParamAppID} {
		if in.Query.Has(name) {
			t.Errorf("query still has %s: %v", name, in.Query)
		}
		if _, ok := in.Fields[name]; ok {
			t.Errorf("body still has %s", name)
		}
	}
	if m := string(in.Fields["messages"]); strings.Contains(m, "x_user_oid") || strings.Contains(m, "x_app_id") {
		t.Errorf("messages still carry delegation: %s", m)
	}
	if in.Query.Get("api-version") != "1" || string(in.Fields["user"]) != `"end-user-7"` || string(in.Fields["model"]) != `"gpt-4o"` {
		t.Errorf("unrelated parameters changed: query %v user %s model %s", in.Query, in.Fields["user"], in.Fields["model"])
	}
}

// Every combination of the four places: the highest given place decides.
func TestResolvePriorityCombinations(t *testing.T) {
	type placeDef struct {
		method Method
		user   string
		set    func(*req)
	}
	placesByPriority := []placeDef{
		{MethodQuery, "q-user", func(r *req) { r.qUser, r.qApp = "q-user", "q-app" }},
		{MethodBody, "b-user", func(r *req) { r.bUser, r.bApp = "b-user", "b-app" }},
		{MethodMessage, "m-user", func(r *req) { r.mUser, r.mApp = "m-user", "m-app" }},
		{MethodHeader, "h-user", func(r *req) { r.hUser, r.hApp = "h-user", "h-app" }},
	}
	for mask := 0; mask < 16; mask++ {
		var r req
		var names []string
		wantMethod, wantUser, wantApp := MethodKey, "owner", ""
		for i := len(placesByPriority) - 1; i >= 0; i-- { // lowest first, so the highest is set last
			if mask&(1<<i) != 0 {
				p := placesByPriority[i]
				p.set(&r)
				names = append([]string{string(p.method)}, names...)
				wantMethod, wantUser, wantApp = p.method, p.user, strings.Replace(p.user, "-user", "-app", 1)
			}
		}
		name := strings.Join(names, "+")
		if name == "" {
			name = "none"
		}
		t.Run(name, func(t *testing.T) {
			in := r.input(t)
			res, err := NewResolver(newFakeDir(), "").Resolve(context.Background(), in)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if res.Method != wantMethod || res.UserOID != wantUser || res.KeyID == nil || *res.KeyID != ownerKey.KeyID {
				t.Fatalf("result = %+v, want method %s user %s key %d", res, wantMethod, wantUser, ownerKey.KeyID)
			}
			if (wantApp == "") != (res.AppID == nil) || res.AppID != nil && *res.AppID != wantApp {
				t.Fatalf("app = %v, want %q", res.AppID, wantApp)
			}
			wantBody := mask&(1<<1) != 0 || mask&(1<<2) != 0
			if res.BodyChanged != wantBody || res.QueryChanged != (mask&1 != 0) {
				t.Fatalf("body changed %v query changed %v", res.BodyChanged, res.QueryChanged)
			}
			checkClean(t, in)
			if mask&(1<<2) != 0 {
				want := `[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"}]`
				if got := string(in.Fields["messages"]); got != want {
					t.Fatalf("messages = %s, want %s", got, want)
				}
			}
		})
	}
}

func TestResolve(t *testing.T) {
	type want struct {
		status int
		code   string
		param  string
		msg    string // substring of the message
		// on success:
		user   string
		app    string
		method Method
	}
	ok := func(user, app string, m Method) want { return want{user: user, app: app, method: m} }
	fail := func(status int, code, param, msg string) want {
		return want{status: status, code: code, param: param, msg: msg}
	}
	cases := []struct {
		name string
		r    req
		want want
	}{
		{"key only: the key's owner (Dify's credential check)", req{}, ok("owner", "", MethodKey)},
		{"key only without messages (Dify's title generation)", req{noMessages: true}, ok("owner", "", MethodKey)},
		{"admin key only", req{key: adminKey}, ok("root", "", MethodKey)},
		{"query", req{qUser: "alice", qApp: "app"}, ok("alice", "app", MethodQuery)},
		{"body", req{bUser: "alice", bApp: "app"}, ok("alice", "app", MethodBody)},
		{"message", req{mUser: "alice", mApp: "app"}, ok("alice", "app", MethodMessage)},
		{"header", req{hUser: "alice", hApp: "app"}, ok("alice", "app", MethodHeader)},
		{"admin key through another user's app", req{key: adminKey, mUser: "alice", mApp: "theirs"},
			ok("alice", "theirs", MethodMessage)},
		{"key of the app's owner, app of another owner via query", req{qUser: "alice", qApp: "theirs"},
			fail(403, CodeAppNotOwned, "x_app_id", "Delegation via URL query: the app 'theirs' is not owned by the user of this API key")},
		{"other key through the owner's app", req{key: otherKey, bUser: "alice", bApp: "app"},
			fail(403, CodeAppNotOwned, "x_app_id", "Delegation via request body: the app 'app'")},
		{"the owner may bill itself", req{hUser: "owner", hApp: "app"}, ok("owner", "app", MethodHeader)},
		{"body null counts as absent", req{rawBody: `"x_user_oid":null,"x_app_id":null`}, ok("owner", "", MethodKey)},

		// Half pairs, in every place, and below a complete higher place.
		{"query app only", req{qApp: "app"}, fail(401, CodeIncomplete, "x_user_oid",
			"Delegation via URL query: 'x_app_id' was given without 'x_user_oid'; send both or neither.")},
		{"query user only", req{qUser: "alice"}, fail(401, CodeIncomplete, "x_app_id",
			"Delegation via URL query: 'x_user_oid' was given without 'x_app_id'")},
		{"body user only", req{bUser: "alice"}, fail(401, CodeIncomplete, "x_app_id", "Delegation via request body: 'x_user_oid'")},
		{"body app only", req{bApp: "app"}, fail(401, CodeIncomplete, "x_user_oid", "via request body: 'x_app_id'")},
		{"message user only", req{mUser: "alice"}, fail(401, CodeIncomplete, "x_app_id",
			"Delegation via message content (messages[1].content): 'x_user_oid' was given without 'x_app_id'")},
		{"message app only", req{mApp: "app"}, fail(401, CodeIncomplete, "x_user_oid", "(messages[1].content): 'x_app_id'")},
		{"header user only", req{hUser: "alice"}, fail(401, CodeIncomplete, "X-App-Id",
			"Delegation via headers: 'X-User-Oid' was given without 'X-App-Id'")},
		{"header app only", req{hApp: "app"}, fail(401, CodeIncomplete, "X-User-Oid", "'X-App-Id' was given without")},
		{"half pair below a complete query", req{qUser: "alice", qApp: "app", hApp: "app"},
			fail(401, CodeIncomplete, "X-User-Oid", "via headers")},
		{"half pair above a complete header", req{bUser: "alice", hUser: "alice", hApp: "app"},
			fail(401, CodeIncomplete, "x_app_id", "via request body")},

		// Unknown or disabled app, unknown or inactive user.
		{"unknown app", req{qUser: "alice", qApp: "nope"}, fail(403, CodeAppNotFound, "x_app_id",
			"Delegation via URL query: the app 'nope' named by 'x_app_id' is not registered")},
		{"disabled app", req{mUser: "alice", mApp: "off"}, fail(403, CodeAppDisabled, "x_app_id", "the app 'off' is disabled")},
		{"disabled app, admin key", req{key: adminKey, hUser: "alice", hApp: "off"}, fail(403, CodeAppDisabled, "X-App-Id", "disabled")},
		{"unknown user", req{bUser: "ghost", bApp: "app"}, fail(403, CodeUserNotFound, "x_user_oid",
			"Delegation via request body: the user 'ghost' named by 'x_user_oid' is not registered")},
		{"inactive user", req{hUser: "bob", hApp: "app"}, fail(403, CodeUserInactive, "X-User-Oid", "the user 'bob'")},
		{"deleted user", req{mUser: "carol", mApp: "app"}, fail(403, CodeUserInactive, "x_user_oid", "deactivated or deleted")},
		{"an unknown app wins over the user check", req{qUser: "ghost", qApp: "nope"}, fail(403, CodeAppNotFound, "x_app_id", "")},
		{"ownership is checked before the user (no probing of users)", req{key: otherKey, qUser: "ghost", qApp: "app"},
			fail(403, CodeAppNotOwned, "x_app_id", "")},
		{"a lower place naming an unknown user does not matter", req{qUser: "alice", qApp: "app", hUser: "ghost", hApp: "app"},
			ok("alice", "app", MethodQuery)},

		// Unusable values.
		{"empty query value", req{rawQuery: "x_user_oid=&x_app_id=app"}, fail(400, CodeInvalid, "x_user_oid",
			"Delegation via URL query: 'x_user_oid' is empty")},
		{"repeated query value", req{rawQuery: "x_user_oid=a&x_user_oid=b&x_app_id=app"}, fail(400, CodeInvalid,
			"x_user_oid", "is given 2 times")},
		{"template in the query", req{qUser: "{{#sys.user_id#}}", qApp: "app"}, fail(400, CodeInvalid, "x_user_oid",
			"'x_user_oid' is the unresolved template '{{#sys.user_id#}}'")},
		{"number in the body", req{rawBody: `"x_user_oid":123,"x_app_id":"app"`}, fail(400, CodeInvalid, "x_user_oid",
			"'x_user_oid' must be a string, found '123'")},
		{"template in the message", req{mUser: "{{user}}", mApp: "app"}, fail(400, CodeInvalid, "messages",
			"Delegation via message content (messages[1].content): 'x_user_oid' is the unresolved template '{{user}}'")},
		{"empty header", req{header: http.Header{"X-User-Oid": {""}}, hApp: "app"}, fail(400, CodeInvalid, "X-User-Oid",
			"'X-User-Oid' is empty")},
		{"repeated header", req{header: http.Header{"X-App-Id": {"a", "b"}}, hUser: "alice"}, fail(400, CodeInvalid,
			"X-App-Id", "sent 2 times")},
		{"query error reported before a message error", req{qUser: "", rawQuery: "x_user_oid=&x_app_id=app", mUser: "{{u}}", mApp: "a"},
			fail(400, CodeInvalid, "x_user_oid", "via URL query")},
		{"too long ids are unknown", req{qUser: strings.Repeat("u", 37), qApp: "app"}, fail(403, CodeUserNotFound, "x_user_oid", "not registered")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.r.input(t)
			res, err := NewResolver(newFakeDir(), "").Resolve(context.Background(), in)
			if c.want.status != 0 {
				checkAPIError(t, err, c.want.status, c.want.code, c.want.param, c.want.msg)
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			key := c.r.key
			if key == nil {
				key = ownerKey
			}
			if res.UserOID != c.want.user || res.Method != c.want.method || res.KeyID == nil || *res.KeyID != key.KeyID {
				t.Fatalf("result = %+v, want user %s method %s key %d", res, c.want.user, c.want.method, key.KeyID)
			}
			if got := deref(res.AppID); got != c.want.app || (c.want.app == "") != (res.AppID == nil) {
				t.Fatalf("app = %v, want %q", res.AppID, c.want.app)
			}
			checkClean(t, in)
		})
	}
}

func TestResolveLookups(t *testing.T) {
	cases := []struct {
		name    string
		r       req
		lookups int
	}{
		{"key only: no lookup", req{}, 0},
		{"delegation: one app and one user lookup", req{qUser: "alice", qApp: "app"}, 2},
		{"over-long app id: no lookup", req{qUser: "alice", qApp: strings.Repeat("a", 51)}, 0},
		{"not owned: the user is not looked up", req{key: otherKey, qUser: "alice", qApp: "app"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newFakeDir()
			_, _ = NewResolver(d, "").Resolve(context.Background(), c.r.input(t))
			if d.lookups != c.lookups {
				t.Fatalf("lookups = %d, want %d", d.lookups, c.lookups)
			}
		})
	}
}

func TestResolveDirectoryFailure(t *testing.T) {
	d := newFakeDir()
	d.fail = errors.New("database down")
	_, err := NewResolver(d, "").Resolve(context.Background(), req{mUser: "alice", mApp: "app"}.input(t))
	e := apierror.As(err)
	if e.Status != http.StatusServiceUnavailable || e.Code != CodeDirectoryFailure || !e.Retryable || !errors.Is(err, d.fail) {
		t.Fatalf("error = %+v, want a retryable 503 wrapping the cause", e)
	}
	if strings.Contains(e.Message, "database down") {
		t.Fatalf("message leaks the cause: %q", e.Message)
	}
}

func TestResolveWithoutPrincipal(t *testing.T) {
	in := req{}.input(t)
	in.Principal = nil
	_, err := NewResolver(newFakeDir(), "").Resolve(context.Background(), in)
	checkAPIError(t, err, http.StatusUnauthorized, "invalid_api_key", "", "Missing API key")
}

// checkAPIError asserts a non-retryable API error.
func checkAPIError(t *testing.T, err error, status int, code, param, msg string) {
	t.Helper()
	var e *apierror.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an *apierror.Error", err)
	}
	if e.Status != status || e.Code != code || e.Param != param || e.Retryable || !strings.Contains(e.Message, msg) {
		t.Fatalf("error = %d %q param %q retryable %v %q\nwant  %d %q param %q, not retryable, containing %q",
			e.Status, e.Code, e.Param, e.Retryable, e.Message, status, code, param, msg)
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
