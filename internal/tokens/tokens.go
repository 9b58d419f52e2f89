// Package tokens counts tokens offline with the OpenAI BPE vocabularies
// (github.com/tiktoken-go/tokenizer, vocabularies compiled in). The gateway uses it
// when an upstream does not report usage (for example a stream cut short or sent
// without a usage chunk), so the counts are what OpenAI would have billed for the
// same text, up to the per-message framing tokens the caller adds itself.
package tokens

import (
	"strings"
	"sync"

	"github.com/tiktoken-go/tokenizer"
)

// Encoding names returned by Counter.Encoding.
const (
	O200kBase  = "o200k_base"
	Cl100kBase = "cl100k_base"
)

// Counter counts tokens. Build one with NewCounter and share it: it is safe for
// concurrent use. Each vocabulary is loaded on first use, once (loading one takes
// tens of milliseconds and tens of megabytes, so an encoding never asked for is
// never loaded).
type Counter struct {
	o200k  lazyCodec
	cl100k lazyCodec
}

type lazyCodec struct {
	enc   tokenizer.Encoding
	once  sync.Once
	codec tokenizer.Codec
}

func (l *lazyCodec) get() tokenizer.Codec {
	l.once.Do(func() {
		c, err := tokenizer.Get(l.enc)
		if err != nil {
			// Both encodings are compiled into the library; this cannot happen
			// unless the library drops one, and then every count falls back to
			// the byte approximation below.
			return
		}
		l.codec = c
	})
	return l.codec
}

// NewCounter returns a Counter. It loads nothing until the first count.
func NewCounter() *Counter {
	return &Counter{
		o200k:  lazyCodec{enc: tokenizer.O200kBase},
		cl100k: lazyCodec{enc: tokenizer.Cl100kBase},
	}
}

// Encoding returns the name of the encoding used for model:
//
//   - "o200k_base" for gpt-4o*, gpt-4.1*, o1*, o3*, o4*, gpt-5*, chatgpt-4o*;
//   - "cl100k_base" for gpt-4*, gpt-3.5* (and Azure's gpt-35*), text-embedding-*;
//   - "o200k_base" for any other family (Llama, Mistral, Claude, a custom
//     deployment name, ...). Their real tokenizers differ, so the count is an
//     approximation: for English text modern tokenizers land within roughly 10-20%
//     of o200k_base, which is close enough for estimating usage the upstream did
//     not report, but it is not what such a provider bills.
//
// The match is case-insensitive; a fine-tune prefix ("ft:") and a provider
// prefix ending in "/" ("openai/gpt-4o") are ignored.
func (c *Counter) Encoding(model string) string {
	m := strings.ToLower(strings.TrimSpace(model))
	m = strings.TrimPrefix(m, "ft:")
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	switch {
	case hasAnyPrefix(m, "gpt-4o", "gpt-4.1", "chatgpt-4o", "gpt-5", "o1", "o3", "o4"):
		return O200kBase
	case hasAnyPrefix(m, "gpt-4", "gpt-3.5", "gpt-35", "text-embedding-"):
		return Cl100kBase
	default:
		return O200kBase
	}
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (c *Counter) codec(model string) tokenizer.Codec {
	if c.Encoding(model) == Cl100kBase {
		return c.cl100k.get()
	}
	return c.o200k.get()
}

// Text returns the number of tokens of text in the encoding of model. Special
// tokens written in the text ("<|endoftext|>") are counted as ordinary text, as
// OpenAI does for user content. The empty string is 0 tokens.
func (c *Counter) Text(model, text string) int {
	if text == "" {
		return 0
	}
	codec := c.codec(model)
	if codec == nil {
		return approx(text)
	}
	n, err := codec.Count(text)
	if err != nil {
		// Only a regexp failure can get here (the codec is in its default,
		// non-strict UTF-8 mode); never return 0 for non-empty text.
		return approx(text)
	}
	return n
}

// Completion returns the number of tokens of a completion that was streamed in
// parts (the delta contents, in order): the parts are joined without separator
// and counted as one text, since splitting a stream into chunks does not change
// its tokens.
func (c *Counter) Completion(model string, parts []string) int {
	switch len(parts) {
	case 0:
		return 0
	case 1:
		return c.Text(model, parts[0])
	}
	return c.Text(model, strings.Join(parts, ""))
}

// approx is the fallback of about four bytes per token, rounded up.
func approx(text string) int {
	return (len(text) + 3) / 4
}
