package proxy

import (
	"net/http"
	"strings"
)

// operationSuffixes are the API paths an SDK appends to its base URL.
var operationSuffixes = [...]string{"/chat/completions", "/embeddings", "/models"}

// RepairURL fixes the URLs OpenAI SDKs produce when a query string is put into
// their base URL:
//
//	POST /v1?x_app_id=a&x_user_oid=u/chat/completions      (python, node ≤ 5)
//	POST /v1?x_app_id=a&x_user_oid=u%2Fchat%2Fcompletions  (node 6 – 7.23)
//
// The operation is moved from the end of the query back onto the path.
func RepairURL(r *http.Request) {
	q := r.URL.RawQuery
	if q == "" {
		return
	}
	for _, suffix := range operationSuffixes {
		enc := strings.ReplaceAll(suffix, "/", "%2F")
		var rest string
		switch {
		case strings.HasSuffix(q, suffix):
			rest = q[:len(q)-len(suffix)]
		case len(q) >= len(enc) && strings.EqualFold(q[len(q)-len(enc):], enc):
			rest = q[:len(q)-len(enc)]
		default:
			continue
		}
		r.URL.Path = strings.TrimSuffix(r.URL.Path, "/") + suffix
		r.URL.RawPath = ""
		r.URL.RawQuery = rest
		r.RequestURI = r.URL.RequestURI()
		return
	}
}
