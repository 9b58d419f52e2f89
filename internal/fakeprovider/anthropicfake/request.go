package anthropicfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/antigravity/gateway/internal/fakeprovider/fakekit"
)

// request is a Messages request as the fake reads it.
type request struct {
	Model         string          `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	System        json.RawMessage `json:"system"`
	Messages      []wireMessage   `json:"messages"`
	Tools         []wireTool      `json:"tools"`
	ToolChoice    *toolChoice     `json:"tool_choice"`
	StopSequences []string        `json:"stop_sequences"`
	Stream        bool            `json:"stream"`
	Thinking      *struct {
		Type string `json:"type"`
	} `json:"thinking"`
}

type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type wireTool struct {
	Name        string          `json:"name"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type toolChoice struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

type inBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text"`
	ID        string          `json:"id"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
}

// blocks decodes a message content: a string is one text block.
func blocks(raw json.RawMessage) ([]inBlock, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []inBlock{{Type: "text", Text: &s}}, nil
	}
	var bs []inBlock
	if err := json.Unmarshal(raw, &bs); err != nil {
		return nil, fmt.Errorf("Input should be a valid list")
	}
	return bs, nil
}

// validate checks the request like the real API; it returns the message of the
// 400 to answer, or "".
func (q *request) validate() string {
	switch {
	case q.Model == "":
		return "model: Field required"
	case q.MaxTokens == nil:
		return "max_tokens: Field required"
	case *q.MaxTokens < 1:
		return "max_tokens: Input should be greater than or equal to 1"
	case len(q.Messages) == 0:
		return "messages: at least one message is required"
	}
	prevToolUses := map[string]bool{}
	for i, m := range q.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		bs, err := blocks(m.Content)
		if err != nil {
			return fmt.Sprintf("messages.%d.content: %v", i, err)
		}
		if len(bs) == 0 {
			return fmt.Sprintf("messages.%d: all messages must have non-empty content", i)
		}
		toolUses := map[string]bool{}
		for j, b := range bs {
			switch b.Type {
			case "text":
				if b.Text == nil || *b.Text == "" {
					return fmt.Sprintf("messages.%d.content.%d.text: text content blocks must be non-empty", i, j)
				}
			case "image", "document", "thinking", "redacted_thinking":
			case "tool_use":
				if m.Role != "assistant" {
					return fmt.Sprintf("messages.%d.content.%d: tool_use blocks are only allowed in assistant messages", i, j)
				}
				toolUses[b.ID] = true
			case "tool_result":
				if m.Role != "user" {
					return fmt.Sprintf("messages.%d.content.%d: tool_result blocks are only allowed in user messages", i, j)
				}
				if !prevToolUses[b.ToolUseID] {
					return fmt.Sprintf("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, b.ToolUseID)
				}
			default:
				return fmt.Sprintf("messages.%d.content.%d.type: Input tag '%s' found using 'type' does not match any of the expected tags", i, j, b.Type)
			}
		}
		prevToolUses = toolUses
	}
	if q.ToolChoice != nil && len(q.Tools) == 0 {
		return "tool_choice may only be specified while providing tools."
	}
	return ""
}

// answersTools reports whether the last message carries tool results.
func (q *request) answersTools() bool {
	last := q.Messages[len(q.Messages)-1]
	bs, _ := blocks(last.Content)
	for _, b := range bs {
		if b.Type == "tool_result" {
			return true
		}
	}
	return false
}

// PromptTokens returns the input tokens the fake reports for a Messages request
// body: the words of the system prompt, plus for each message 3 and the words
// of its text blocks and of the text of its tool_result blocks. It returns 0 for
// an invalid body.
func PromptTokens(body []byte) int {
	var q request
	if json.Unmarshal(body, &q) != nil {
		return 0
	}
	return q.promptTokens()
}

func (q *request) promptTokens() int {
	n := textWords(q.System)
	for _, m := range q.Messages {
		n += 3
		bs, _ := blocks(m.Content)
		for _, b := range bs {
			switch b.Type {
			case "text":
				if b.Text != nil {
					n += countWords(*b.Text)
				}
			case "tool_result":
				n += textWords(b.Content)
			}
		}
	}
	return n
}

// textWords counts the words of a string, or of the text blocks of an array.
func textWords(raw json.RawMessage) int {
	if len(raw) == 0 {
		return 0
	}
	bs, err := blocks(raw)
	if err != nil {
		return 0
	}
	n := 0
	for _, b := range bs {
		if b.Type == "text" && b.Text != nil {
			n += countWords(*b.Text)
		}
	}
	return n
}

func countWords(s string) int {
	return len(strings.FieldsFunc(s, unicode.IsSpace))
}

// toolInput returns a deterministic input for a tool's JSON schema: a value per
// property, in the schema's property order as Go sorts map keys.
func toolInput(schema json.RawMessage) json.RawMessage {
	return fakekit.SchemaValues(schema)
}

func writeInvalid(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusBadRequest, "invalid_request_error", msg)
}
