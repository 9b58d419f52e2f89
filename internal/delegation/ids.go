package delegation

import (
	"strconv"
	"strings"
)

// idProblem says what is wrong with an id given in a request ("" if nothing):
// an empty value, or a template placeholder the client failed to substitute.
func idProblem(name, v string) string {
	if strings.TrimSpace(v) == "" {
		return "'" + name + "' is empty; the variable that should fill it resolved to nothing."
	}
	if isPlaceholder(v) {
		return "'" + name + "' is the unresolved template " + quoteID(v) +
			"; the variable was not substituted, check its name in your template."
	}
	return ""
}

// isPlaceholder reports whether v holds template syntax: Dify's {{#sys.user_id#}},
// Jinja2's {{ x }} or {% … %}, or a half of one left after a template engine
// consumed the other.
func isPlaceholder(v string) bool {
	for _, m := range [...]string{"{{", "}}", "{%", "%}", "{#", "#}"} {
		if strings.Contains(v, m) {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }
