package validate

import (
	"slices"
	"strconv"
	"strings"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/tokens"
)

// roleList is OpenAI's list of message roles, in the order its errors give it.
func roleList() []string {
	return []string{"system", "assistant", "user", "function", "tool", "developer"}
}

func isRole(s string) bool {
	switch s {
	case "system", "assistant", "user", "function", "tool", "developer":
		return true
	}
	return false
}

// partTypeList is the list of content part types.
func partTypeList() []string {
	return []string{"text", "image_url", "input_audio", "refusal", "file"}
}

func isPartType(s string) bool {
	switch s {
	case "text", "image_url", "input_audio", "refusal", "file":
		return true
	}
	return false
}

// partTypesFor returns the content part types a role accepts: system,
// developer and tool messages text only; user messages text, images, audio
// and files; assistant messages text and refusals. Function messages take a
// string only (nil).
func partTypesFor(role string) []string {
	switch role {
	case "user":
		return []string{"text", "image_url", "input_audio", "file"}
	case "assistant":
		return []string{"text", "refusal"}
	case "function":
		return nil
	default:
		return []string{"text"}
	}
}

// partAllowed reports whether role accepts parts of type typ (see partTypesFor).
func partAllowed(role, typ string) bool {
	switch role {
	case "user":
		return typ != "refusal"
	case "assistant":
		return typ == "text" || typ == "refusal"
	case "function":
		return false
	default:
		return typ == "text"
	}
}

// checkMessages applies OpenAI's message rules and returns the first violation.
//
//   - role: required, one of roleList.
//   - content: required for system, developer, user and tool messages; an
//     assistant message may omit it (or send null) when it has tool_calls, a
//     function_call, an audio reference or a refusal; a function message's
//     content is a string or null. A content array must not be empty and its
//     parts must be objects of a type the role accepts, with their required
//     fields.
//   - tool messages need a tool_call_id answering a call of the assistant
//     message before them; every call of an assistant message must be answered
//     by the tool messages that follow it. Function messages need a name.
func checkMessages(msgs []tokens.Message) *apierror.Error {
	var calls toolCallTracker
	for i := range msgs {
		m := &msgs[i]
		p := "messages[" + strconv.Itoa(i) + "]"
		if m.Role == "" {
			return missing(p + ".role")
		}
		if !isRole(m.Role) {
			return invalidValue(p+".role", m.Role, roleList()...)
		}
		if m.Role != "tool" {
			if err := calls.end(); err != nil {
				return err
			}
		}
		if err := checkContent(p, m); err != nil {
			return err
		}
		switch m.Role {
		case "tool":
			if m.ToolCallID == nil || *m.ToolCallID == "" {
				return missing(p + ".tool_call_id")
			}
			if err := calls.answer(p, *m.ToolCallID); err != nil {
				return err
			}
		case "function":
			if m.Name == nil || *m.Name == "" {
				return missing(p + ".name")
			}
		case "assistant":
			if err := checkToolCalls(p, m.ToolCalls); err != nil {
				return err
			}
			calls.start(p, m.ToolCalls)
		}
	}
	return calls.end()
}

func checkContent(p string, m *tokens.Message) *apierror.Error {
	c := &m.Content
	switch c.Kind {
	case tokens.ContentString:
		return nil
	case tokens.ContentAbsent, tokens.ContentNull:
		if m.Role == "function" {
			return nil
		}
		if m.Role == "assistant" && (len(m.ToolCalls) > 0 || m.FunctionCall != nil || m.HasAudio || m.Refusal != nil) {
			return nil
		}
		if c.Kind == tokens.ContentNull {
			return invalidType(&tokens.ShapeError{Param: p + ".content", Want: "one of a string or array of objects", Got: "null"})
		}
		return missing(p + ".content")
	}
	if m.Role == "function" {
		return invalidType(&tokens.ShapeError{Param: p + ".content", Want: "a string", Got: "an array"})
	}
	if len(c.Parts) == 0 {
		return emptyArray(p + ".content")
	}
	for j := range c.Parts {
		if err := checkPart(p, p+".content["+strconv.Itoa(j)+"]", m.Role, &c.Parts[j]); err != nil {
			return err
		}
	}
	return nil
}

func checkPart(msgParam, p, role string, part *tokens.Part) *apierror.Error {
	switch {
	case part.Type == "":
		return missing(p + ".type")
	case !isPartType(part.Type):
		return invalidValue(p+".type", part.Type, partTypeList()...)
	case part.Type == "image_url" && role != "user":
		// OpenAI's own wording for this case.
		return badRequest(msgParam, CodeInvalidValue, "Invalid '"+msgParam+"'. Image URLs are only allowed for messages with role 'user', but this message with role '"+role+"' contains an image URL.")
	case !partAllowed(role, part.Type):
		return badRequest(p+".type", CodeInvalidValue, "Invalid value: '"+part.Type+"'. Supported values for messages with role '"+
			role+"' are: "+quotedList(partTypesFor(role))+".")
	}
	switch part.Type {
	case "text":
		if part.Text == nil {
			return missing(p + ".text")
		}
	case "refusal":
		if part.Refusal == nil {
			return missing(p + ".refusal")
		}
	case "image_url":
		switch {
		case part.ImageURL == nil:
			return missing(p + ".image_url")
		case part.ImageURL.URL == "":
			return missing(p + ".image_url.url")
		case !oneOf(part.ImageURL.Detail, "", "auto", "low", "high"):
			return invalidValue(p+".image_url.detail", part.ImageURL.Detail, "auto", "low", "high")
		}
	case "input_audio":
		switch {
		case part.InputAudio == nil:
			return missing(p + ".input_audio")
		case part.InputAudio.Data == "":
			return missing(p + ".input_audio.data")
		case part.InputAudio.Format == "":
			return missing(p + ".input_audio.format")
		case !oneOf(part.InputAudio.Format, "wav", "mp3"):
			return invalidValue(p+".input_audio.format", part.InputAudio.Format, "wav", "mp3")
		}
	case "file":
		switch {
		case part.File == nil:
			return missing(p + ".file")
		case part.File.FileData == "" && part.File.FileID == "":
			return badRequest(p+".file", CodeMissing, "Invalid '"+p+".file': expected one of 'file_data' or 'file_id' to be provided.")
		}
	}
	return nil
}

func checkToolCalls(p string, calls []tokens.ToolCall) *apierror.Error {
	for j, tc := range calls {
		q := p + ".tool_calls[" + strconv.Itoa(j) + "]"
		switch {
		case tc.ID == "":
			return missing(q + ".id")
		case tc.Type == "":
			return missing(q + ".type")
		case tc.Type != "function" && tc.Type != "custom":
			return invalidValue(q+".type", tc.Type, "function", "custom")
		case tc.Type == "function" && tc.Function.Name == "":
			return missing(q + ".function.name")
		}
	}
	return nil
}

// toolCallTracker follows the calls of the last assistant message with
// tool_calls through the tool messages that answer them.
type toolCallTracker struct {
	param   string          // the assistant message, "messages[3]"
	pending map[string]bool // call id → still unanswered
	open    bool            // the previous message was that assistant message or one of its answers
}

func (t *toolCallTracker) start(param string, calls []tokens.ToolCall) {
	if len(calls) == 0 {
		return
	}
	t.param, t.open = param, true
	t.pending = make(map[string]bool, len(calls))
	for _, tc := range calls {
		t.pending[tc.ID] = true
	}
}

func (t *toolCallTracker) answer(p, id string) *apierror.Error {
	if !t.open {
		return badRequest(p+".role", CodeInvalidValue,
			"Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.")
	}
	if !t.pending[id] {
		return badRequest(p+".tool_call_id", CodeInvalidValue,
			"Invalid parameter: 'tool_call_id' of '"+id+"' not found in 'tool_calls' of previous message.")
	}
	delete(t.pending, id)
	return nil
}

// end closes the open run of tool answers, if any; unanswered calls are an error.
func (t *toolCallTracker) end() *apierror.Error {
	if !t.open {
		return nil
	}
	t.open = false
	if len(t.pending) == 0 {
		return nil
	}
	ids := make([]string, 0, len(t.pending))
	for id := range t.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return badRequest(t.param+".role", CodeInvalidValue,
		"An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: "+
			strings.Join(ids, ", "))
}

func oneOf(s string, values ...string) bool { return slices.Contains(values, s) }
