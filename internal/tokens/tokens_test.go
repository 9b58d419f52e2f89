package tokens

import (
	"strings"
	"sync"
	"testing"
)

func TestEncoding(t *testing.T) {
	c := NewCounter()
	tests := []struct {
		model string
		want  string
	}{
		{"gpt-4o", O200kBase},
		{"gpt-4o-mini-2024-07-18", O200kBase},
		{"GPT-4o", O200kBase},
		{"gpt-4.1-nano", O200kBase},
		{"chatgpt-4o-latest", O200kBase},
		{"o1", O200kBase},
		{"o1-preview", O200kBase},
		{"o3-mini", O200kBase},
		{"o4-mini", O200kBase},
		{"gpt-5", O200kBase},
		{"gpt-5-nano", O200kBase},
		{"openai/gpt-4o", O200kBase},
		{"ft:gpt-4o-mini:org::id", O200kBase},
		{"gpt-4", Cl100kBase},
		{"gpt-4-turbo", Cl100kBase},
		{"gpt-4-0613", Cl100kBase},
		{"gpt-3.5-turbo", Cl100kBase},
		{"gpt-35-turbo", Cl100kBase},
		{"text-embedding-3-small", Cl100kBase},
		{"text-embedding-ada-002", Cl100kBase},
		{"ft:gpt-3.5-turbo:org::id", Cl100kBase},
		// Other families: approximated with o200k_base.
		{"llama-3-70b", O200kBase},
		{"claude-3-opus", O200kBase},
		{"my-deployment", O200kBase},
		{"", O200kBase},
	}
	for _, tt := range tests {
		if got := c.Encoding(tt.model); got != tt.want {
			t.Errorf("Encoding(%q) = %q, want %q", tt.model, got, tt.want)
		}
	}
}

func TestText(t *testing.T) {
	c := NewCounter()
	tests := []struct {
		model, text string
		want        int
	}{
		{"gpt-4o", "", 0},
		{"gpt-4", "", 0},
		{"gpt-4o", "hello world", 2},
		{"gpt-4", "hello world", 2},
		{"gpt-3.5-turbo", "tiktoken is great!", 6},
		{"gpt-4o", "Hello, world!", 4},
		{"gpt-4", "The quick brown fox jumps over the lazy dog.", 10},
		{"gpt-4o", "The quick brown fox jumps over the lazy dog.", 10},
		// The encodings differ on non-Latin text.
		{"gpt-4o", "こんにちは世界", 2},
		{"gpt-4", "こんにちは世界", 4},
		// Digits are split in groups of at most three.
		{"gpt-4o", "1234567", 3},
		// Special tokens in user text are ordinary text.
		{"gpt-4o", "<|endoftext|>", 7},
		{"llama-3", "hello world", 2},
	}
	for _, tt := range tests {
		if got := c.Text(tt.model, tt.text); got != tt.want {
			t.Errorf("Text(%q, %q) = %d, want %d", tt.model, tt.text, got, tt.want)
		}
	}
}

func TestCompletion(t *testing.T) {
	c := NewCounter()
	tests := []struct {
		name  string
		parts []string
		want  int
	}{
		{"nil", nil, 0},
		{"one empty", []string{""}, 0},
		{"one", []string{"hello world"}, 2},
		// Chunk boundaries inside a word do not add tokens.
		{"split word", []string{"hel", "lo", " wor", "ld"}, 2},
		{"fake provider words", []string{"tok0", " tok1", " tok2"}, 6},
		{"with empties", []string{"", "Hello,", "", " world!"}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Completion("gpt-4o", tt.parts); got != tt.want {
				t.Errorf("Completion(%q) = %d, want %d", tt.parts, got, tt.want)
			}
		})
	}
}

func TestConcurrentFirstUse(t *testing.T) {
	c := NewCounter()
	var wg sync.WaitGroup
	got := make([]int, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			model := "gpt-4o"
			if i%2 == 1 {
				model = "gpt-4"
			}
			got[i] = c.Text(model, "The quick brown fox jumps over the lazy dog.")
		}()
	}
	wg.Wait()
	for i, n := range got {
		if n != 10 {
			t.Errorf("goroutine %d counted %d, want 10", i, n)
		}
	}
}

func TestApprox(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{"a", 1},
		{"abcd", 1},
		{"abcde", 2},
		{strings.Repeat("x", 400), 100},
	}
	for _, tt := range tests {
		if got := approx(tt.text); got != tt.want {
			t.Errorf("approx(%d bytes) = %d, want %d", len(tt.text), got, tt.want)
		}
	}
}

// benchText returns English-like text of about n tokens in o200k_base.
func benchText(n int) string {
	// Each repetition is 10 tokens; the trailing space is one more, so drop it.
	const sentence = "The quick brown fox jumps over the lazy dog. "
	return strings.TrimSuffix(strings.Repeat(sentence, n/10), " ")
}

func BenchmarkText(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1k", 1_000}, {"10k", 10_000}, {"100k", 100_000}} {
		text := benchText(size.n)
		c := NewCounter()
		if got := c.Text("gpt-4o", text); got != size.n {
			b.Fatalf("benchmark text has %d tokens, want %d", got, size.n)
		}
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				c.Text("gpt-4o", text)
			}
		})
	}
}
