package proxy

import (
	"github.com/antigravity/gateway/internal/jsonscan"
)

// decodeUsage decodes an upstream usage object, as json.Unmarshal into
// upstreamUsage would for the keys providers send (exact case), without
// reflection: it runs on every non-streamed reply. It reports false on
// anything else (not an object, a count that is not an integer), and the
// caller then counts the tokens locally.
func decodeUsage(raw []byte) (upstreamUsage, bool) {
	var u upstreamUsage
	ok := true
	whole := jsonscan.Each(raw, func(k jsonscan.Key, v []byte) {
		switch {
		case k.Is("prompt_tokens"):
			ok = ok && jsonInt(v, &u.PromptTokens)
		case k.Is("completion_tokens"):
			ok = ok && jsonInt(v, &u.CompletionTokens)
		case k.Is("prompt_tokens_details"):
			if string(v) == "null" {
				u.PromptTokensDetails = nil
				return
			}
			if u.PromptTokensDetails == nil { // a repeated key adds to the first, as in encoding/json
				u.PromptTokensDetails = &struct {
					CachedTokens int64 `json:"cached_tokens"`
				}{}
			}
			ok = ok && memberInt(v, "cached_tokens", &u.PromptTokensDetails.CachedTokens)
		case k.Is("completion_tokens_details"):
			if string(v) == "null" {
				u.CompletionTokensDetails = nil
				return
			}
			if u.CompletionTokensDetails == nil {
				u.CompletionTokensDetails = &struct {
					ReasoningTokens int64 `json:"reasoning_tokens"`
				}{}
			}
			ok = ok && memberInt(v, "reasoning_tokens", &u.CompletionTokensDetails.ReasoningTokens)
		}
	})
	return u, whole && ok
}

// memberInt stores member key of the object obj, an integer, in dst.
func memberInt(obj []byte, key string, dst *int64) bool {
	ok := true
	whole := jsonscan.Each(obj, func(k jsonscan.Key, v []byte) {
		if k.Is(key) {
			ok = ok && jsonInt(v, dst)
		}
	})
	return whole && ok
}

// jsonInt stores the JSON integer v in dst; null leaves dst alone, as
// encoding/json does. It refuses fractions, exponents, strings and values
// beyond int64.
func jsonInt(v []byte, dst *int64) bool {
	if string(v) == "null" {
		return true
	}
	neg := len(v) > 0 && v[0] == '-'
	digits := v
	if neg {
		digits = v[1:]
	}
	if len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return false
		}
		n = n*10 + d
	}
	if neg {
		n = -n
	}
	*dst = n
	return true
}
