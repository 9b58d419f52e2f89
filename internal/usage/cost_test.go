package usage

import (
	"math"
	"testing"

	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/store"
)

func TestCost(t *testing.T) {
	// gpt-4o list prices: $2.50 in, $1.25 cached in, $10 out per 1M tokens.
	gpt4o := store.Model{Name: "gpt-4o", InputPrice: 2_500_000, CachedInputPrice: 1_250_000, OutputPrice: 10_000_000}
	tiny := store.Model{InputPrice: 400, CachedInputPrice: 300, OutputPrice: 200}
	tests := []struct {
		name  string
		model store.Model
		tok   Tokens
		want  money.Nanos
	}{
		{"zero", gpt4o, Tokens{}, 0},
		{"prompt and completion", gpt4o, Tokens{Prompt: 1000, Completion: 500}, 7_500_000},
		{"cached part of the prompt", gpt4o, Tokens{Prompt: 1000, Cached: 400}, 2_000_000},
		// 176*2.5M + 1024*1.25M + 300*10M = 4.72e9 micro-micro.
		{"everything", gpt4o, Tokens{Prompt: 1200, Completion: 300, Cached: 1024, Reasoning: 128}, 4_720_000},
		// 100 completion tokens at $10/1M = $0.001, whatever part is reasoning.
		{"reasoning is not charged twice", gpt4o, Tokens{Completion: 100, Reasoning: 80}, 1_000_000},
		{"cached above prompt is clamped", gpt4o, Tokens{Prompt: 100, Cached: 150}, 125_000},
		{"negative counts are zero", gpt4o, Tokens{Prompt: -5, Completion: -1, Cached: -3}, 0},
		{"negative cached is zero", gpt4o, Tokens{Prompt: 10, Cached: -3}, 25_000},
		{"one token at one micro rounds up", store.Model{InputPrice: 1}, Tokens{Prompt: 1}, 1},
		// 1*400 + 1*300 + 1*200 = 900 micro-micro: one rounding gives 1, not 3.
		{"rounded once", tiny, Tokens{Prompt: 2, Cached: 1, Completion: 1}, 1},
		{"exact thousand", store.Model{OutputPrice: 1000}, Tokens{Completion: 1}, 1},
		{"just above a thousand", store.Model{OutputPrice: 1001}, Tokens{Completion: 1}, 2},
		{"free cached input", store.Model{InputPrice: 2_500_000}, Tokens{Prompt: 1000, Cached: 1000}, 0},
		{"negative price is zero", store.Model{InputPrice: -5, OutputPrice: 1000}, Tokens{Prompt: 10, Completion: 3}, 3},
		{"big path exact", store.Model{InputPrice: 1_000_000}, Tokens{Prompt: 1 << 40}, 1_099_511_627_776_000},
		{"big path rounds up", store.Model{InputPrice: 1 << 31}, Tokens{Prompt: 1}, 2_147_484},
		{"saturates", store.Model{InputPrice: math.MaxInt64}, Tokens{Prompt: math.MaxInt64}, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Cost(tt.model, tt.tok); got != tt.want {
				t.Errorf("Cost = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCostFastPathMatchesBig(t *testing.T) {
	vals := []int64{0, 1, 2, 999, 1000, 1001, 123_456, 7_777_777, exactLimit - 1}
	for _, a := range vals {
		for _, b := range vals {
			for _, p := range vals {
				m := store.Model{InputPrice: money.Micros(p), CachedInputPrice: money.Micros(b), OutputPrice: money.Micros(a)}
				tok := Tokens{Prompt: a, Cached: min(b, a), Completion: p}
				want := bigCost(a-min(b, a), min(b, a), p, p, b, a)
				if got := Cost(m, tok); got != want {
					t.Fatalf("Cost(%+v, %+v) = %d, big = %d", m, tok, got, want)
				}
			}
		}
	}
}

func TestCostMatchesPerTokenForOneTerm(t *testing.T) {
	tests := []struct {
		tokens int64
		price  money.Micros
	}{{1, 1}, {3, 333}, {1000, 2_500_000}, {12345, 150_000}}
	for _, tt := range tests {
		got := Cost(store.Model{InputPrice: tt.price}, Tokens{Prompt: tt.tokens})
		if want := money.PerToken(tt.tokens, tt.price); got != want {
			t.Errorf("Cost(%d tokens at %d) = %d, money.PerToken = %d", tt.tokens, tt.price, got, want)
		}
	}
}
