package admin

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/antigravity/gateway/internal/apierror"
)

// Length limits of free-text fields.
const (
	maxOIDLen         = 36
	maxEmailLen       = 254
	maxDisplayNameLen = 200
	maxKeyNameLen     = 100
	maxModelNameLen   = 100
	maxRoutingLen     = 64
	maxUpstreamLen    = 200
	maxAPIVersionLen  = 64
	maxBaseURLLen     = 2048
	maxAPIKeyLen      = 8192
	maxAllowedModels  = 1000
)

// newUUID returns a random (version 4) UUID.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

func validOID(oid string) error {
	if oid == "" || len(oid) > maxOIDLen {
		return apierror.InvalidRequest("oid", "'oid' must be 1 to 36 characters of A-Z, a-z, 0-9, '.', '_', '@' or '-'.")
	}
	for _, c := range oid {
		ok := c < utf8.RuneSelf && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '@' || c == '-')
		if !ok {
			return apierror.InvalidRequest("oid", "'oid' must be 1 to 36 characters of A-Z, a-z, 0-9, '.', '_', '@' or '-'.")
		}
	}
	return nil
}

// validEmail accepts "" (no email) or a string with exactly one '@' between
// non-empty parts and no whitespace.
func validEmail(email string) error {
	local, domain, found := strings.Cut(email, "@")
	switch {
	case email == "":
		return nil
	case !found || local == "" || domain == "" || strings.Contains(domain, "@"),
		len(email) > maxEmailLen, strings.IndexFunc(email, unicode.IsSpace) >= 0:
		return apierror.InvalidRequest("email", "'email' must be an address like name@example.com.")
	}
	return nil
}

// validText checks a free-text field: at most max bytes, no control characters.
func validText(param, s string, max int) error {
	if len(s) > max {
		return apierror.InvalidRequest(param, "'"+param+"' must be at most "+strconv.Itoa(max)+" characters.")
	}
	if !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return apierror.InvalidRequest(param, "'"+param+"' must not contain control characters.")
	}
	return nil
}

// validModelName checks a model name: 1–100 characters, no whitespace, slash or
// control characters.
func validModelName(param, name string) error {
	bad := func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '/' }
	if name == "" || len(name) > maxModelNameLen || !utf8.ValidString(name) || strings.IndexFunc(name, bad) >= 0 {
		return apierror.InvalidRequest(param, "'"+param+"' must be 1 to 100 characters without whitespace or '/'.")
	}
	return nil
}

// normalBaseURL validates an absolute http(s) URL and drops a trailing slash.
func normalBaseURL(s string) (string, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	u, err := url.Parse(s)
	switch {
	case err != nil, len(s) > maxBaseURLLen, u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		return "", apierror.InvalidRequest("base_url", "'base_url' must be an absolute http(s) URL such as https://api.openai.com/v1.")
	case u.User != nil:
		return "", apierror.InvalidRequest("base_url", "'base_url' must not contain credentials; send the key as 'api_key'.")
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return "", apierror.InvalidRequest("base_url", "'base_url' must not contain a query or fragment.")
	}
	return s, nil
}
