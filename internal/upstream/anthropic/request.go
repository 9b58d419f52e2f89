// Package anthropic translates between the OpenAI chat completions format and
// Anthropic's Messages API, so the gateway can serve Claude models to OpenAI
// clients: BuildRequest turns an OpenAI request into a POST /v1/messages,
// Response and Stream turn Anthropic's answers back into OpenAI's
// chat.completion and chat.completion.chunk shapes, and Error turns its error
// bodies into OpenAI's.
//
// Request mapping: system and developer messages are joined (blank line
// between) into the top-level system prompt; image_url parts become image
// blocks (data: URLs as base64 sources, http(s) URLs as url sources); file parts
// with a data: URL become document blocks; assistant tool_calls become tool_use
// blocks; tool messages become tool_result blocks of a user message (consecutive
// messages of one role are merged, as Anthropic wants alternating turns); tools,
// tool_choice (auto, none, required→any, a function→tool) and
// parallel_tool_calls=false (disable_parallel_tool_use) are mapped;
// max_completion_tokens or max_tokens gives max_tokens (default 4096); stop
// gives stop_sequences; user gives metadata.user_id; reasoning_effort enables
// extended thinking with a budget of 1024 (low), 4096 (medium) or 16384 (high)
// tokens, max_tokens being raised by the budget when it would not exceed it.
// response_format, seed, penalties and logprobs have no Anthropic equivalent
// and are ignored; n > 1, audio input and uploaded file ids are refused.
package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/upstream/openaiwire"
)

const (
	// DefaultVersion is the anthropic-version header sent when none is configured.
	DefaultVersion = "2023-06-01"
	// DefaultMaxTokens is max_tokens when the OpenAI request sets no limit;
	// Anthropic requires one.
	DefaultMaxTokens = 4096
)

const userAgent = "antigravity-gateway/1"

// BuildRequest converts an OpenAI request body for op ("chat/completions" or
// "embeddings") into the Anthropic request: POST {base}/v1/messages with the
// x-api-key and anthropic-version headers. Errors caused by the request itself
// (unsupported operation or content, invalid fields) are *apierror.Error with
// status 400; others are plain errors.
func BuildRequest(ctx context.Context, base *url.URL, credential, upstreamModel, apiVersion, op string, openAIBody []byte) (*http.Request, error) {
	switch op {
	case "chat/completions":
	case "embeddings":
		return nil, &apierror.Error{Status: http.StatusBadRequest, Type: "invalid_request_error",
			Code: "unsupported_operation", Param: "model",
			Message: "This model is served by Anthropic, which has no embeddings API."}
	default:
		return nil, fmt.Errorf("anthropic: unsupported operation %q", op)
	}
	body, err := translateRequest(openAIBody, upstreamModel)
	if err != nil {
		return nil, err
	}
	u := *base
	path := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(path, "/v1") {
		path += "/v1"
	}
	u.Path, u.RawPath = path+"/messages", ""
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if apiVersion == "" {
		apiVersion = DefaultVersion
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json, text/event-stream")
	h.Set("User-Agent", userAgent)
	h.Set("anthropic-version", apiVersion)
	if credential != "" {
		h.Set("x-api-key", credential)
	}
	return req, nil
}

// translateRequest converts an OpenAI chat completion body to a Messages body.
func translateRequest(body []byte, upstreamModel string) ([]byte, error) {
	var in chatRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, apierror.InvalidRequest("", "The request body is not a valid chat completion request: "+err.Error())
	}
	out := messagesRequest{Model: upstreamModel, Stream: in.Stream, Temperature: in.Temperature, TopP: in.TopP}
	if out.Model == "" {
		out.Model = in.Model
	}
	if in.N != nil && *in.N > 1 {
		return nil, apierror.InvalidRequest("n", "Anthropic models return one choice: 'n' must be 1.")
	}
	out.MaxTokens = DefaultMaxTokens
	if in.MaxCompletionTokens != nil && *in.MaxCompletionTokens > 0 {
		out.MaxTokens = *in.MaxCompletionTokens
	} else if in.MaxTokens != nil && *in.MaxTokens > 0 {
		out.MaxTokens = *in.MaxTokens
	}
	stop, err := stopSequences(in.Stop)
	if err != nil {
		return nil, err
	}
	out.StopSequences = stop
	if in.User != "" {
		out.Metadata = &metadata{UserID: in.User}
	}
	if budget := thinkingBudget(in.ReasoningEffort); budget > 0 {
		out.Thinking = &thinking{Type: "enabled", BudgetTokens: budget}
		if out.MaxTokens <= budget {
			out.MaxTokens += budget
		}
	}
	if out.System, out.Messages, err = convertMessages(in.Messages); err != nil {
		return nil, err
	}
	if out.Tools, out.ToolChoice, err = convertTools(in.Tools, in.ToolChoice, in.ParallelToolCalls); err != nil {
		return nil, err
	}
	return openaiwire.Marshal(out)
}

// thinkingBudget maps reasoning_effort to a thinking budget; 0 disables thinking.
func thinkingBudget(effort string) int64 {
	switch effort {
	case "low":
		return 1024
	case "medium":
		return 4096
	case "high":
		return 16384
	}
	return 0
}

func stopSequences(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, apierror.InvalidRequest("stop", "Invalid 'stop': expected a string or an array of strings.")
	}
	return many, nil
}

// convertMessages splits out the system prompt and converts the conversation,
// merging consecutive messages of the same role.
func convertMessages(msgs []openaiwire.ChatMessage) (string, []message, error) {
	var system []string
	var out []message
	add := func(role string, blocks []block) {
		if len(blocks) == 0 {
			return
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content = append(out[n-1].Content, blocks...)
			return
		}
		out = append(out, message{Role: role, Content: blocks})
	}
	for i, m := range msgs {
		param := "messages[" + strconv.Itoa(i) + "]"
		switch m.Role {
		case "system", "developer":
			texts, err := textOnly(m.Content, param)
			if err != nil {
				return "", nil, err
			}
			if s := strings.Join(texts, "\n"); s != "" {
				system = append(system, s)
			}
		case "user":
			blocks, err := userBlocks(m.Content, param)
			if err != nil {
				return "", nil, err
			}
			add("user", blocks)
		case "assistant":
			blocks, err := assistantBlocks(m, param)
			if err != nil {
				return "", nil, err
			}
			add("assistant", blocks)
		case "tool":
			b, err := toolResult(m, param)
			if err != nil {
				return "", nil, err
			}
			add("user", []block{b})
		default:
			return "", nil, apierror.InvalidRequest(param+".role",
				"Unsupported role '"+m.Role+"' for an Anthropic model: use system, developer, user, assistant or tool.")
		}
	}
	if len(out) == 0 {
		return "", nil, apierror.InvalidRequest("messages", "The conversation has no user or assistant message with content.")
	}
	return strings.Join(system, "\n\n"), out, nil
}

func userBlocks(raw json.RawMessage, param string) ([]block, error) {
	ps, err := parts(raw, param)
	if err != nil {
		return nil, err
	}
	var out []block
	for j, p := range ps {
		pp := param + ".content[" + strconv.Itoa(j) + "]"
		switch p.Type {
		case "text":
			if p.Text != "" {
				out = append(out, block{Type: "text", Text: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, apierror.InvalidRequest(pp+".image_url", "Missing image URL.")
			}
			src, err := mediaSource(p.ImageURL.URL, pp+".image_url.url")
			if err != nil {
				return nil, err
			}
			out = append(out, block{Type: "image", Source: src})
		case "file":
			if p.File == nil || p.File.FileData == "" {
				return nil, apierror.InvalidRequest(pp+".file",
					"Anthropic models need files inline: send file.file_data as a data: URL (file_id is not supported).")
			}
			src, err := mediaSource(p.File.FileData, pp+".file.file_data")
			if err != nil {
				return nil, err
			}
			out = append(out, block{Type: "document", Source: src})
		default:
			return nil, apierror.InvalidRequest(pp+".type", "Content parts of type '"+p.Type+"' are not supported by Anthropic models.")
		}
	}
	return out, nil
}

// mediaSource converts a data: URL to a base64 source, an http(s) URL to a url
// source.
func mediaSource(u, param string) (*source, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mediaType, isB64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isB64 || mediaType == "" {
			return nil, apierror.InvalidRequest(param, "Invalid data URL: expected data:<media type>;base64,<data>.")
		}
		return &source{Type: "base64", MediaType: mediaType, Data: data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return &source{Type: "url", URL: u}, nil
	}
	return nil, apierror.InvalidRequest(param, "Expected a data: URL or an http(s) URL.")
}

func assistantBlocks(m openaiwire.ChatMessage, param string) ([]block, error) {
	ps, err := parts(m.Content, param)
	if err != nil {
		return nil, err
	}
	var out []block
	for j, p := range ps {
		switch p.Type {
		case "text":
			if p.Text != "" {
				out = append(out, block{Type: "text", Text: p.Text})
			}
		case "refusal":
			if p.Refusal != "" {
				out = append(out, block{Type: "text", Text: p.Refusal})
			}
		default:
			return nil, apierror.InvalidRequest(param+".content["+strconv.Itoa(j)+"].type",
				"Assistant content parts of type '"+p.Type+"' are not supported.")
		}
	}
	for j, tc := range m.ToolCalls {
		pp := param + ".tool_calls[" + strconv.Itoa(j) + "]"
		if tc.ID == "" || tc.Function.Name == "" {
			return nil, apierror.InvalidRequest(pp, "A tool call needs an id and a function name.")
		}
		input := json.RawMessage("{}")
		if args := strings.TrimSpace(tc.Function.Arguments); args != "" {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal([]byte(args), &obj); err != nil || obj == nil {
				return nil, apierror.InvalidRequest(pp+".function.arguments", "Tool call arguments must be a JSON object.")
			}
			input = json.RawMessage(args)
		}
		out = append(out, block{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return out, nil
}

func toolResult(m openaiwire.ChatMessage, param string) (block, error) {
	if m.ToolCallID == "" {
		return block{}, apierror.InvalidRequest(param+".tool_call_id", "A tool message needs the tool_call_id it answers.")
	}
	b := block{Type: "tool_result", ToolUseID: m.ToolCallID}
	raw := bytes.TrimSpace(m.Content)
	switch {
	case len(raw) == 0 || string(raw) == "null" || string(raw) == `""`:
	case raw[0] == '"':
		b.Content = raw
	default:
		texts, err := textOnly(raw, param)
		if err != nil {
			return block{}, err
		}
		var blocks []block
		for _, t := range texts {
			if t != "" {
				blocks = append(blocks, block{Type: "text", Text: t})
			}
		}
		if len(blocks) > 0 {
			enc, err := openaiwire.Marshal(blocks)
			if err != nil {
				return block{}, err
			}
			b.Content = enc
		}
	}
	return b, nil
}

func convertTools(tools []openaiwire.ChatTool, choice json.RawMessage, parallel *bool) ([]toolDef, *toolChoice, error) {
	var defs []toolDef
	for i, t := range tools {
		param := "tools[" + strconv.Itoa(i) + "]"
		if t.Type != "function" {
			return nil, nil, apierror.InvalidRequest(param+".type", "Only function tools are supported by Anthropic models.")
		}
		if t.Function.Name == "" {
			return nil, nil, apierror.InvalidRequest(param+".function.name", "A tool needs a function name.")
		}
		schema := t.Function.Parameters
		if len(schema) == 0 || string(schema) == "null" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		defs = append(defs, toolDef{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	var tc *toolChoice
	choice = bytes.TrimSpace(choice)
	if len(choice) > 0 && string(choice) != "null" {
		var mode string
		if json.Unmarshal(choice, &mode) == nil {
			switch mode {
			case "auto":
				tc = &toolChoice{Type: "auto"}
			case "none":
				tc = &toolChoice{Type: "none"}
			case "required":
				tc = &toolChoice{Type: "any"}
			default:
				return nil, nil, apierror.InvalidRequest("tool_choice", "Invalid 'tool_choice': expected auto, none, required or a function.")
			}
		} else {
			var fn struct {
				Type     string `json:"type"`
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			}
			if err := json.Unmarshal(choice, &fn); err != nil || fn.Type != "function" || fn.Function.Name == "" {
				return nil, nil, apierror.InvalidRequest("tool_choice", "Invalid 'tool_choice': expected auto, none, required or a function.")
			}
			tc = &toolChoice{Type: "tool", Name: fn.Function.Name}
		}
	}
	if len(defs) == 0 {
		return nil, nil, nil // Anthropic refuses a tool_choice without tools
	}
	if parallel != nil && !*parallel {
		if tc == nil {
			tc = &toolChoice{Type: "auto"}
		}
		if tc.Type != "none" {
			tc.DisableParallelToolUse = true
		}
	}
	return defs, tc, nil
}
