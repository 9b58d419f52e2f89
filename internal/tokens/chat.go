package tokens

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/tiktoken-go/tokenizer"
)

// Chat prompt framing, as OpenAI counts it for gpt-3.5-turbo-0125, gpt-4-0613,
// gpt-4o-2024-08-06 and gpt-4o-mini (cookbook "How to count tokens with
// tiktoken", section 6, which matches the API's prompt_tokens): every message
// costs 3 tokens plus the tokens of its values (role, content, name), a name one
// more, and the reply is primed with 3 (<|start|>assistant<|message|>).
const (
	tokensPerMessage = 3
	tokensPerName    = 1
	replyPriming     = 3
	// tokensPerToolCall frames one assistant tool call (or legacy
	// function_call): the cookbook does not cover calls, so this is the
	// documented approximation of counting a call like a message (3 framing
	// tokens) holding the function name and the arguments text. The call id is
	// not counted: it is not shown to the model.
	tokensPerToolCall = 3
)

// Message is one decoded chat message. Pointer fields are nil when the key is
// absent or null. Only the fields the gateway validates or counts are kept.
type Message struct {
	Role         string
	Name         *string
	Content      Content
	ToolCalls    []ToolCall
	FunctionCall *FunctionCall
	ToolCallID   *string
	Refusal      *string
	// HasAudio reports an assistant "audio" reference (a previous audio reply),
	// which OpenAI accepts in place of content.
	HasAudio bool
}

// ContentKind says what a message's content was.
type ContentKind int

const (
	ContentAbsent ContentKind = iota // no "content" key
	ContentNull                      // "content": null
	ContentString                    // "content": "..."
	ContentParts                     // "content": [ {...}, ... ]
)

// Content is a decoded message content: a string or a list of typed parts.
type Content struct {
	Kind  ContentKind
	Text  string // ContentString
	Parts []Part // ContentParts
}

// Part is one content part. Type says which of the other fields applies.
type Part struct {
	Type       string      `json:"type"`
	Text       *string     `json:"text"`
	Refusal    *string     `json:"refusal"`
	ImageURL   *ImageURL   `json:"image_url"`
	InputAudio *InputAudio `json:"input_audio"`
	File       *File       `json:"file"`
}

// ImageURL is an image_url part: an https URL or a data: URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail"` // "low", "high", "auto" or empty
}

// InputAudio is an input_audio part: base64 audio in a format.
type InputAudio struct {
	Data   string `json:"data"`
	Format string `json:"format"` // "wav" or "mp3"
}

// File is a file part: inline base64 file_data (a data: URL or bare base64) or
// the id of an uploaded file.
type File struct {
	FileData string `json:"file_data"`
	FileID   string `json:"file_id"`
	Filename string `json:"filename"`
}

// ToolCall is one call in an assistant message's tool_calls.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function FunctionCall `json:"function"`
}

// FunctionCall is the function of a tool call, or a legacy function_call.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// ShapeError is a JSON value of the wrong type at Param (for example
// "messages[2].content[0]"). Its Error text is OpenAI's invalid_type message.
type ShapeError struct {
	Param string // OpenAI-style path of the value
	Want  string // "an object", "a string", ...
	Got   string // "a string", "an integer", ...
}

func (e *ShapeError) Error() string {
	return "Invalid type for '" + e.Param + "': expected " + e.Want + ", but got " + e.Got + " instead."
}

// wireMessage is the JSON shape of a message; content is decoded separately so
// that a wrong part can be reported with its index.
type wireMessage struct {
	Role         string          `json:"role"`
	Name         *string         `json:"name"`
	Content      json.RawMessage `json:"content"`
	ToolCalls    []ToolCall      `json:"tool_calls"`
	FunctionCall *FunctionCall   `json:"function_call"`
	ToolCallID   *string         `json:"tool_call_id"`
	Refusal      *string         `json:"refusal"`
	Audio        json.RawMessage `json:"audio"`
}

// DecodeMessages decodes a messages array once. A value of the wrong type is
// reported as a *ShapeError naming its path ("messages[1].content[0]"); other
// failures (malformed JSON) as a plain error. It does not check roles, required
// fields or part types: that is the validator's job.
func DecodeMessages(raw json.RawMessage) ([]Message, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, &ShapeError{Param: "messages", Want: "an array", Got: kindOf(raw)}
	}
	if msgs, ok := fastMessages(raw); ok {
		return msgs, nil
	}
	return decodeMessagesJSON(raw)
}

// decodeMessagesJSON is DecodeMessages through encoding/json, for what
// fastMessages leaves: it also words the errors.
func decodeMessagesJSON(raw json.RawMessage) ([]Message, error) {
	// The whole array in one decoding. Any type error (or a null
	// element) falls back to decoding element by element, which names the
	// element at fault.
	var ws []*wireMessage
	if json.Unmarshal(raw, &ws) == nil && !slices.Contains(ws, nil) {
		msgs := make([]Message, len(ws))
		for i, w := range ws {
			if err := w.message(i, &msgs[i]); err != nil {
				return nil, err
			}
		}
		return msgs, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, err
	}
	msgs := make([]Message, len(elems))
	for i, elem := range elems {
		if elem[0] != '{' {
			return nil, &ShapeError{Param: "messages[" + itoa(i) + "]", Want: "an object", Got: kindOf(elem)}
		}
		var w wireMessage
		if err := json.Unmarshal(elem, &w); err != nil {
			return nil, shapeFromJSON("messages["+itoa(i)+"]", err)
		}
		if err := w.message(i, &msgs[i]); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// message converts the i-th wire message, decoding its content.
func (w *wireMessage) message(i int, m *Message) error {
	content, err := decodeContent(i, w.Content)
	if err != nil {
		return err
	}
	*m = Message{
		Role: w.Role, Name: w.Name, Content: content, ToolCalls: w.ToolCalls,
		FunctionCall: w.FunctionCall, ToolCallID: w.ToolCallID, Refusal: w.Refusal,
		HasAudio: len(w.Audio) > 0 && !isNullJSON(w.Audio),
	}
	return nil
}

// decodeContent decodes the content of the i-th message. The path of a value
// of the wrong type is built only for the error.
func decodeContent(i int, raw json.RawMessage) (Content, error) {
	param := func() string { return "messages[" + itoa(i) + "].content" }
	switch {
	case len(raw) == 0:
		return Content{Kind: ContentAbsent}, nil
	case isNullJSON(raw):
		return Content{Kind: ContentNull}, nil
	case raw[0] == '"':
		s, err := jsonString(raw)
		if err != nil {
			return Content{}, err
		}
		return Content{Kind: ContentString, Text: s}, nil
	case raw[0] == '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return Content{}, err
		}
		parts := make([]Part, len(elems))
		for j, elem := range elems {
			p := func() string { return param() + "[" + itoa(j) + "]" }
			if elem[0] != '{' {
				return Content{}, &ShapeError{Param: p(), Want: "an object", Got: kindOf(elem)}
			}
			if err := json.Unmarshal(elem, &parts[j]); err != nil {
				return Content{}, shapeFromJSON(p(), err)
			}
		}
		return Content{Kind: ContentParts, Parts: parts}, nil
	default:
		return Content{}, &ShapeError{Param: param(), Want: "one of a string or array of objects", Got: kindOf(raw)}
	}
}

// shapeFromJSON turns a json type error inside the object at param into a
// ShapeError; encoding/json names the field path without array indices
// ("tool_calls.function.name"), which is kept as is.
func shapeFromJSON(param string, err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	p := param
	if te.Field != "" {
		p += "." + te.Field
	}
	return &ShapeError{Param: p, Want: wantOf(te.Type), Got: article(te.Value)}
}

func wantOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	default:
		return "a number"
	}
}

func article(jsonKind string) string {
	switch jsonKind {
	case "object", "array":
		return "an " + jsonKind
	case "bool":
		return "a boolean"
	case "number":
		return "a number"
	default:
		return "a " + jsonKind
	}
}

// kindOf names the JSON kind of raw as OpenAI's messages do.
func kindOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	if bytes.ContainsAny(raw, ".eE") {
		return "a decimal"
	}
	return "an integer"
}

func isNullJSON(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// ChatPrompt returns the prompt tokens of a chat completion request as OpenAI
// counts them: the messages (decoded once) with their framing, plus the tools
// (or legacy functions) definitions. tools and functions may be empty or null.
// See ChatMessages for what is exact and what is approximated.
func (c *Counter) ChatPrompt(model string, messages, tools, functions json.RawMessage) (int, error) {
	msgs, err := DecodeMessages(messages)
	if err != nil {
		return 0, err
	}
	return c.ChatMessages(model, msgs, tools, functions)
}

// ChatMessages counts already decoded messages plus the tools and functions
// definitions. Exact (matching the API for text prompts): message framing,
// roles, names, string and text content, tools in the cookbook's flat-schema
// formula. Images follow OpenAI's published tile formula (see images.go).
// Approximations, documented where they are computed: assistant tool calls,
// refusal text, nested tool schemas, audio and file parts. Other model
// families are counted as o200k_base (see Encoding).
func (c *Counter) ChatMessages(model string, msgs []Message, tools, functions json.RawMessage) (int, error) {
	count := c.counter(model)
	n := replyPriming
	for i := range msgs {
		n += messageTokens(count, &msgs[i])
	}
	fn, err := toolsTokens(count, c.Encoding(model), tools, functions)
	if err != nil {
		return 0, err
	}
	return n + fn, nil
}

func messageTokens(count func(string) int, m *Message) int {
	n := tokensPerMessage + count(m.Role)
	if m.Name != nil {
		n += count(*m.Name) + tokensPerName
	}
	switch m.Content.Kind {
	case ContentString:
		n += count(m.Content.Text)
	case ContentParts:
		for j := range m.Content.Parts {
			n += partTokens(count, &m.Content.Parts[j])
		}
	}
	if m.Refusal != nil {
		n += count(*m.Refusal)
	}
	for _, tc := range m.ToolCalls {
		n += tokensPerToolCall + count(tc.Function.Name) + count(tc.Function.Arguments)
	}
	if m.FunctionCall != nil {
		n += tokensPerToolCall + count(m.FunctionCall.Name) + count(m.FunctionCall.Arguments)
	}
	return n
}

func partTokens(count func(string) int, p *Part) int {
	switch p.Type {
	case "text":
		if p.Text != nil {
			return count(*p.Text)
		}
	case "refusal":
		if p.Refusal != nil {
			return count(*p.Refusal)
		}
	case "image_url":
		if p.ImageURL != nil {
			return ImageTokens(p.ImageURL.URL, p.ImageURL.Detail)
		}
	case "input_audio":
		if p.InputAudio != nil {
			return AudioTokens(p.InputAudio.Data, p.InputAudio.Format)
		}
	case "file":
		if p.File != nil {
			return count(p.File.Filename) + FileTokens(p.File.FileData)
		}
	}
	return 0
}

// counter returns the token counting function of model's encoding, resolved
// once per request rather than once per string.
func (c *Counter) counter(model string) func(string) int {
	codec := c.codec(model)
	return func(s string) int { return countWith(codec, s) }
}

func countWith(codec tokenizer.Codec, s string) int {
	if s == "" {
		return 0
	}
	if codec == nil {
		return approx(s)
	}
	n, err := codec.Count(s)
	if err != nil {
		return approx(s)
	}
	return n
}

// Tool definition framing from the cookbook's num_tokens_for_tools (verified
// there against the API: 101 prompt tokens for gpt-4o, 105 for gpt-4): a
// function costs funcInit plus "name:description" (trailing period dropped);
// a non-empty properties object propInit; each property propKey plus
// "key:type:description"; an enum enumInit plus enumItem and the text of each
// item; the list funcEnd once. cl100k_base models use funcInit 10, the others 7.
const (
	funcInitO200k = 7
	funcInitCl100 = 10
	propInit      = 3
	propKey       = 3
	enumInit      = -3
	enumItem      = 3
	funcEnd       = 12
)

type toolDef struct {
	Type     string   `json:"type"`
	Function *funcDef `json:"function"`
}

type funcDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

type schema struct {
	Type        json.RawMessage    `json:"type"`
	Description string             `json:"description"`
	Enum        []json.RawMessage  `json:"enum"`
	Properties  map[string]*schema `json:"properties"`
	Items       *schema            `json:"items"`
}

func toolsTokens(count func(string) int, encoding string, tools, functions json.RawMessage) (int, error) {
	funcInit := funcInitO200k
	if encoding == Cl100kBase {
		funcInit = funcInitCl100
	}
	n := 0
	if len(tools) > 0 && !isNullJSON(tools) {
		var defs []json.RawMessage
		if err := json.Unmarshal(tools, &defs); err != nil {
			return 0, shapeFromJSON("tools", err)
		}
		if len(defs) > 0 {
			for i, raw := range defs {
				var d toolDef
				if err := json.Unmarshal(raw, &d); err != nil {
					return 0, shapeFromJSON("tools["+itoa(i)+"]", err)
				}
				if d.Function == nil {
					// Not a function tool (a custom or built-in tool): the
					// cookbook has no formula; count its JSON text.
					n += funcInit + count(string(raw))
					continue
				}
				t, err := functionTokens(count, funcInit, d.Function)
				if err != nil {
					return 0, shapeFromJSON("tools["+itoa(i)+"].function", err)
				}
				n += t
			}
			n += funcEnd
		}
	}
	if len(functions) > 0 && !isNullJSON(functions) {
		var defs []funcDef
		if err := json.Unmarshal(functions, &defs); err != nil {
			return 0, shapeFromJSON("functions", err)
		}
		for i := range defs {
			t, err := functionTokens(count, funcInit, &defs[i])
			if err != nil {
				return 0, shapeFromJSON("functions["+itoa(i)+"]", err)
			}
			n += t
		}
		if len(defs) > 0 {
			n += funcEnd
		}
	}
	return n, nil
}

func functionTokens(count func(string) int, funcInit int, f *funcDef) (int, error) {
	n := funcInit + count(f.Name+":"+strings.TrimSuffix(f.Description, "."))
	if len(f.Parameters) == 0 || isNullJSON(f.Parameters) {
		return n, nil
	}
	var params schema
	if err := json.Unmarshal(f.Parameters, &params); err != nil {
		return 0, err
	}
	return n + propertiesTokens(count, params.Properties), nil
}

// propertiesTokens applies the cookbook's property formula. The cookbook stops
// at the top level; nested objects (a property's own properties, or an array's
// item properties) are counted with the same formula, a documented close
// approximation that leaves flat schemas exactly as the cookbook counts them.
func propertiesTokens(count func(string) int, props map[string]*schema) int {
	if len(props) == 0 {
		return 0
	}
	n := propInit
	for key, p := range props {
		n += propKey
		if p == nil {
			n += count(key + "::")
			continue
		}
		if p.Enum != nil {
			n += enumInit
			for _, item := range p.Enum {
				n += enumItem + count(enumText(item))
			}
		}
		n += count(key + ":" + typeText(p.Type) + ":" + strings.TrimSuffix(p.Description, "."))
		n += propertiesTokens(count, p.Properties)
		if p.Items != nil {
			n += propertiesTokens(count, p.Items.Properties)
		}
	}
	return n
}

// typeText renders a JSON schema "type": a string as is, a list joined with
// " | " (["string","null"] becomes "string | null").
func typeText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, " | ")
	}
	return string(raw)
}

// enumText is an enum item's text: a string unquoted, anything else as JSON.
func enumText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func itoa(i int) string { return strconv.Itoa(i) }
