package fakeprovider

import (
	"encoding/json"
	"unicode"
	"unicode/utf8"
)

// PromptTokens returns the prompt_tokens the fake upstream reports for a chat
// completion request body: the number of whitespace-separated words in the
// contents of all messages (string contents, and the "text" of text parts of
// array contents), plus 3 per message. It returns 0 for an invalid body.
func PromptTokens(body []byte) int {
	var req struct {
		Messages []message `json:"messages"`
	}
	if json.Unmarshal(body, &req) != nil {
		return 0
	}
	return promptTokens(req.Messages)
}

func promptTokens(msgs []message) int {
	n := 0
	for _, m := range msgs {
		n += 3 + contentWords(m.Content)
	}
	return n
}

func contentWords(raw json.RawMessage) int {
	if len(raw) == 0 {
		return 0
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0
		}
		return countWords(s)
	case '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if json.Unmarshal(raw, &parts) != nil {
			return 0
		}
		n := 0
		for _, p := range parts {
			if p.Type == "text" {
				n += countWords(p.Text)
			}
		}
		return n
	}
	return 0
}

// countWords counts whitespace-separated words like len(strings.Fields(s)),
// without allocating.
func countWords(s string) int {
	n, inWord := 0, false
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		if unicode.IsSpace(r) {
			inWord = false
		} else if !inWord {
			inWord = true
			n++
		}
	}
	return n
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
