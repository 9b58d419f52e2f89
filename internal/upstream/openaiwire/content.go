package openaiwire

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/antigravity/gateway/internal/apierror"
)

// Part is a content part type: ContentPart, or a translator's type that
// embeds it.
type Part interface {
	Common() ContentPart
}

// Common returns p itself.
func (p ContentPart) Common() ContentPart { return p }

// TextPart returns the text part holding s.
func TextPart(s string) ContentPart { return ContentPart{Type: "text", Text: s} }

// Parts decodes a content field: a string becomes one text part, made by
// text; null none. param names the message in errors.
func Parts[P Part](raw json.RawMessage, param string, text func(string) P) ([]P, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, apierror.InvalidRequest(param+".content", "Invalid content string.")
		}
		return []P{text(s)}, nil
	}
	var ps []P
	if err := json.Unmarshal(raw, &ps); err != nil {
		return nil, apierror.InvalidRequest(param+".content", "Invalid 'content': expected a string or an array of content parts.")
	}
	return ps, nil
}

// TextOnly returns the texts of a content that may only hold text.
func TextOnly[P Part](raw json.RawMessage, param string, text func(string) P) ([]string, error) {
	ps, err := Parts(raw, param, text)
	if err != nil {
		return nil, err
	}
	var texts []string
	for j, p := range ps {
		c := p.Common()
		if c.Type != "text" {
			return nil, apierror.InvalidRequest(param+".content["+strconv.Itoa(j)+"]",
				"Only text content is supported in this message, not '"+c.Type+"'.")
		}
		texts = append(texts, c.Text)
	}
	return texts, nil
}
