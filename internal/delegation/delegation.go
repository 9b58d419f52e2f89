// Package delegation decides who is billed for an API request (spec §3).
//
// Internal apps call the gateway on behalf of their end users: the request is
// charged to the end user (x_user_oid) and tagged with the app (x_app_id). There
// are two routes:
//
//   - The shared-secret route (spec §3.1–3.2): the request carries
//     X-Gateway-Secret, equal to GATEWAY_SHARED_SECRET, plus the X-App-Id and
//     X-User-Oid headers. No API key is involved; only the headers are read.
//   - Delegation with an API key (spec §3.1.1): the pair is read from four
//     places, highest priority first: the URL query, top-level body fields, JSON
//     embedded in a user message (method A) and the X-User-Oid / X-App-Id
//     headers. A request without any of them is billed to the key's owner.
//
// Every failure is an *apierror.Error in OpenAI's shape, not retryable, with a
// message naming the method, the parameter and what was found.
package delegation

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/antigravity/gateway/internal/auth"
)

// Names of the delegation parameters.
const (
	ParamUserOID = "x_user_oid"
	ParamAppID   = "x_app_id"

	HeaderUserOID = "X-User-Oid"
	HeaderAppID   = "X-App-Id"
	HeaderSecret  = "X-Gateway-Secret"
)

// Method names how the billed user was named; it is stored in the usage row
// (UsageLogs.delegation_method).
type Method string

// Methods, in the order of priority of the API-key route.
const (
	MethodKey          Method = "key"           // no delegation: the key's owner
	MethodQuery        Method = "query"         // URL query parameters
	MethodBody         Method = "body"          // top-level body fields
	MethodMessage      Method = "message"       // JSON embedded in a user message
	MethodHeader       Method = "header"        // X-User-Oid / X-App-Id with an API key
	MethodSharedSecret Method = "shared_secret" // X-Gateway-Secret route
)

// Maximum lengths of the ids (the database columns: Users.oid VARCHAR(36),
// Apps.app_id VARCHAR(50)). Longer ids cannot exist and are refused without a
// lookup.
const (
	MaxUserOIDLen = 36
	MaxAppIDLen   = 50
)

// IDs is a delegation pair as found in one place. An empty field was not given.
type IDs struct {
	UserOID string
	AppID   string
}

// Empty reports whether neither id was given.
func (p IDs) Empty() bool { return p.UserOID == "" && p.AppID == "" }

// Input is what the resolver reads from a request. Query and Fields are
// modified in place: the delegation parameters are removed from both and
// "messages" is rewritten when method A matched, so that nothing of the
// delegation reaches the provider.
type Input struct {
	// Principal is the authenticated API key; nil on the shared-secret route.
	Principal *auth.Principal
	// Query is the request's URL query.
	Query url.Values
	// Fields is the top level of the JSON body, decoded once by the proxy; nil
	// for requests without a body.
	Fields map[string]json.RawMessage
	Header http.Header
}

// Result says who is billed and through what.
type Result struct {
	UserOID string
	AppID   *string // nil: no app
	KeyID   *int64  // nil on the shared-secret route
	Method  Method
	// BodyChanged reports that Fields was modified (a parameter removed or
	// "messages" rewritten) and the body must be re-encoded.
	BodyChanged bool
	// QueryChanged reports that a parameter was removed from Query.
	QueryChanged bool
}
