// Package usage prices requests and records one usage row per proxied request,
// batched off the hot path.
package usage

import (
	"math"
	"math/big"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

// Tokens is the token usage of one request, as OpenAI reports it: Cached is the
// part of Prompt served from the prompt cache, Reasoning the part of Completion
// spent on reasoning.
type Tokens struct {
	Prompt, Completion, Cached, Reasoning int64
}

// exactLimit bounds the operands of the fast path: with every token count and
// price below 2^30, each product is below 2^60 and their sum below 2^62, so the
// int64 expression cannot overflow.
const exactLimit = 1 << 30

// Cost prices t with the prices of m:
//
//	(Prompt-Cached)*InputPrice + Cached*CachedInputPrice + Completion*OutputPrice
//
// in micro-USD per million tokens, summed exactly and rounded up once to a whole
// nano-dollar (nanos = ceil(sum / 1000)), so a bill is never under-counted and
// never off by more than one nano-dollar. Reasoning tokens are already part of
// Completion (as OpenAI reports them) and are not charged again. Cached is
// clamped to [0, Prompt] and negative counts or prices count as zero. A model
// whose CachedInputPrice is zero charges nothing for cached tokens. The result
// saturates at the largest Nanos rather than overflowing.
func Cost(m store.Model, t Tokens) money.Nanos {
	prompt := max(t.Prompt, 0)
	cached := min(max(t.Cached, 0), prompt)
	completion := max(t.Completion, 0)
	in := max(int64(m.InputPrice), 0)
	cachedIn := max(int64(m.CachedInputPrice), 0)
	out := max(int64(m.OutputPrice), 0)

	if prompt < exactLimit && completion < exactLimit &&
		in < exactLimit && cachedIn < exactLimit && out < exactLimit {
		sum := (prompt-cached)*in + cached*cachedIn + completion*out
		return money.Nanos((sum + 999) / 1000)
	}
	return bigCost(prompt-cached, cached, completion, in, cachedIn, out)
}

// bigCost is Cost's formula in arbitrary precision, for absurd operands.
func bigCost(uncached, cached, completion, in, cachedIn, out int64) money.Nanos {
	mul := func(a, b int64) *big.Int { return new(big.Int).Mul(big.NewInt(a), big.NewInt(b)) }
	sum := mul(uncached, in)
	sum.Add(sum, mul(cached, cachedIn))
	sum.Add(sum, mul(completion, out))
	sum.Add(sum, big.NewInt(999))
	sum.Quo(sum, big.NewInt(1000))
	if !sum.IsInt64() {
		return money.Nanos(math.MaxInt64)
	}
	return money.Nanos(sum.Int64())
}
