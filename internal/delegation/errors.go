package delegation

import (
	"net/http"

	"github.com/antigravity/gateway/internal/apierror"
)

// Error codes of the delegation errors (the "code" of the OpenAI error body).
const (
	CodeInvalid          = "invalid_delegation"    // 400: malformed, empty or template id
	CodeIncomplete       = "incomplete_delegation" // 401: one id without the other
	CodeInvalidSecret    = "invalid_gateway_secret"
	CodeSecretDisabled   = "shared_secret_disabled"
	CodeMissingAppID     = "missing_app_id"
	CodeMissingUserOID   = "missing_user_oid"
	CodeAppNotFound      = "app_not_found"
	CodeAppDisabled      = "app_disabled"
	CodeAppNotOwned      = "app_not_owned"
	CodeUserNotFound     = "user_not_found"
	CodeUserInactive     = "user_inactive"
	CodeDirectoryFailure = "delegation_unavailable"
)

// describe names a method in error messages.
func (m Method) describe() string {
	switch m {
	case MethodQuery:
		return "URL query"
	case MethodBody:
		return "request body"
	case MethodMessage:
		return "message content"
	case MethodHeader:
		return "headers"
	case MethodSharedSecret:
		return "shared secret"
	}
	return string(m)
}

// paramNames are how a method spells the two ids.
func (m Method) paramNames() (user, app string) {
	if m == MethodHeader || m == MethodSharedSecret {
		return HeaderUserOID, HeaderAppID
	}
	return ParamUserOID, ParamAppID
}

// prefix starts every message about method m; where (optional) locates the
// place, e.g. "messages[2].content".
func prefix(m Method, where string) string {
	p := "Delegation via " + m.describe()
	if where != "" {
		p += " (" + where + ")"
	}
	return p + ": "
}

func invalid(param, msg string) *apierror.Error {
	return &apierror.Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: CodeInvalid,
		Param: param, Message: msg}
}

func unauthorized(code, param, msg string) *apierror.Error {
	return &apierror.Error{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: code,
		Param: param, Message: msg}
}

func forbidden(code, param, msg string) *apierror.Error {
	return &apierror.Error{Status: http.StatusForbidden, Type: "permission_error", Code: code,
		Param: param, Message: msg}
}

// incomplete is the 401 of a half pair.
func incomplete(m Method, where string, ids IDs) *apierror.Error {
	user, app := m.paramNames()
	given, missing := app, user
	if ids.AppID == "" {
		given, missing = user, app
	}
	return unauthorized(CodeIncomplete, missing, prefix(m, where)+"'"+given+"' was given without '"+missing+
		"'; send both or neither.")
}

// quoteID renders an id found in a request for a message, shortened so an error
// never echoes a whole prompt.
func quoteID(s string) string {
	const max = 80
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		s = s[:cut] + "…"
	}
	return "'" + s + "'"
}
