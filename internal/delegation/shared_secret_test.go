package delegation

import (
	"context"
	"net/http"
	"testing"
)

const secret = "0123456789abcdef-shared"

func TestSharedSecret(t *testing.T) {
	type want struct {
		status int
		code   string
		param  string
		msg    string
		user   string
		app    string
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	cases := []struct {
		name   string
		secret string // configured GATEWAY_SHARED_SECRET
		h      http.Header
		want   want
	}{
		{"valid", secret, hdr(HeaderSecret, secret, HeaderAppID, "app", HeaderUserOID, "alice"),
			want{user: "alice", app: "app"}},
		{"app of any owner", secret, hdr(HeaderSecret, secret, HeaderAppID, "theirs", HeaderUserOID, "alice"),
			want{user: "alice", app: "theirs"}},
		{"route disabled", "", hdr(HeaderSecret, secret, HeaderAppID, "app", HeaderUserOID, "alice"),
			want{status: 401, code: CodeSecretDisabled, msg: "GATEWAY_SHARED_SECRET is not set"}},
		{"wrong secret", secret, hdr(HeaderSecret, secret+"x", HeaderAppID, "app", HeaderUserOID, "alice"),
			want{status: 401, code: CodeInvalidSecret, msg: "Invalid gateway secret"}},
		{"secret prefix", secret, hdr(HeaderSecret, secret[:8], HeaderAppID, "app", HeaderUserOID, "alice"),
			want{status: 401, code: CodeInvalidSecret, msg: "Invalid gateway secret"}},
		{"empty secret header", secret, hdr(HeaderSecret, "", HeaderAppID, "app", HeaderUserOID, "alice"),
			want{status: 401, code: CodeInvalidSecret, msg: "Invalid gateway secret"}},
		{"secret sent twice", secret, hdr(HeaderSecret, secret, HeaderSecret, secret, HeaderAppID, "app", HeaderUserOID, "alice"),
			want{status: 401, code: CodeInvalidSecret, msg: "Invalid gateway secret"}},
		{"missing app", secret, hdr(HeaderSecret, secret, HeaderUserOID, "alice"),
			want{status: 401, code: CodeMissingAppID, param: HeaderAppID, msg: "Missing X-App-Id"}},
		{"unknown app", secret, hdr(HeaderSecret, secret, HeaderAppID, "nope", HeaderUserOID, "alice"),
			want{status: 403, code: CodeAppNotFound, param: HeaderAppID, msg: "Delegation via shared secret: the app 'nope'"}},
		{"disabled app", secret, hdr(HeaderSecret, secret, HeaderAppID, "off", HeaderUserOID, "alice"),
			want{status: 403, code: CodeAppDisabled, param: HeaderAppID, msg: "disabled"}},
		{"missing user (after the app check, as in spec §3.2)", secret, hdr(HeaderSecret, secret, HeaderAppID, "app"),
			want{status: 401, code: CodeMissingUserOID, param: HeaderUserOID, msg: "Missing X-User-Oid"}},
		{"missing user, unknown app", secret, hdr(HeaderSecret, secret, HeaderAppID, "nope"),
			want{status: 403, code: CodeAppNotFound, param: HeaderAppID, msg: "not registered"}},
		{"unknown user", secret, hdr(HeaderSecret, secret, HeaderAppID, "app", HeaderUserOID, "ghost"),
			want{status: 403, code: CodeUserNotFound, param: HeaderUserOID, msg: "the user 'ghost'"}},
		{"inactive user", secret, hdr(HeaderSecret, secret, HeaderAppID, "app", HeaderUserOID, "bob"),
			want{status: 403, code: CodeUserInactive, param: HeaderUserOID, msg: "the user 'bob'"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := req{mUser: "m-user", mApp: "m-app", bUser: "b-user", bApp: "b-app", qUser: "q-user", qApp: "q-app"}.input(t)
			in.Header = c.h
			in.Principal = otherKey // ignored: the secret route takes precedence
			messages := string(in.Fields["messages"])
			if !UsesSharedSecret(in.Header) {
				t.Fatal("UsesSharedSecret = false")
			}
			res, err := NewResolver(newFakeDir(), c.secret).Resolve(context.Background(), in)
			if c.want.status != 0 {
				checkAPIError(t, err, c.want.status, c.want.code, c.want.param, c.want.msg)
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if res.UserOID != c.want.user || deref(res.AppID) != c.want.app || res.KeyID != nil || res.Method != MethodSharedSecret {
				t.Fatalf("result = %+v", res)
			}
			// Query and body parameters are not honoured but removed; message
			// content is end-user text on this route and stays as it is.
			if !res.QueryChanged || !res.BodyChanged || in.Query.Has(ParamUserOID) || in.Fields[ParamAppID] != nil {
				t.Fatalf("parameters not stripped: %+v %v", res, in.Query)
			}
			if got := string(in.Fields["messages"]); got != messages {
				t.Fatalf("messages changed on the shared-secret route: %s", got)
			}
		})
	}
}

func TestUsesSharedSecret(t *testing.T) {
	cases := []struct {
		h    http.Header
		want bool
	}{
		{http.Header{}, false},
		{http.Header{"X-App-Id": {"app"}}, false},
		{http.Header{"X-Gateway-Secret": {""}}, true},
		{http.Header{"X-Gateway-Secret": {"s"}}, true},
	}
	for _, c := range cases {
		if got := UsesSharedSecret(c.h); got != c.want {
			t.Errorf("UsesSharedSecret(%v) = %v, want %v", c.h, got, c.want)
		}
	}
}
