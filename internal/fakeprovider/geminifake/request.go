package geminifake

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"github.com/antigravity/gateway/internal/fakeprovider/fakekit"
)

// request is a generateContent request as the fake reads it.
type request struct {
	Contents          []content `json:"contents"`
	SystemInstruction *content  `json:"systemInstruction"`
	Tools             []struct {
		FunctionDeclarations []declaration `json:"functionDeclarations"`
	} `json:"tools"`
	ToolConfig *struct {
		FunctionCallingConfig struct {
			Mode                 string   `json:"mode"`
			AllowedFunctionNames []string `json:"allowedFunctionNames"`
		} `json:"functionCallingConfig"`
	} `json:"toolConfig"`
	GenerationConfig struct {
		MaxOutputTokens *int     `json:"maxOutputTokens"`
		StopSequences   []string `json:"stopSequences"`
		CandidateCount  *int     `json:"candidateCount"`
		ThinkingConfig  *struct {
			IncludeThoughts bool `json:"includeThoughts"`
			ThinkingBudget  *int `json:"thinkingBudget"`
		} `json:"thinkingConfig"`
	} `json:"generationConfig"`
}

type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

// part holds the data kinds the fake knows; others are kept raw to be counted.
type part struct {
	Text             *string         `json:"text,omitempty"`
	Thought          bool            `json:"thought,omitempty"`
	InlineData       json.RawMessage `json:"inlineData,omitempty"`
	FileData         json.RawMessage `json:"fileData,omitempty"`
	FunctionCall     *functionCall   `json:"functionCall,omitempty"`
	FunctionResponse json.RawMessage `json:"functionResponse,omitempty"`
}

type functionCall struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type declaration struct {
	Name                 string          `json:"name"`
	Parameters           json.RawMessage `json:"parameters"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
}

// kinds counts the data fields a part sets.
func (p part) kinds() int {
	n := 0
	for _, set := range []bool{p.Text != nil, p.InlineData != nil, p.FileData != nil, p.FunctionCall != nil, p.FunctionResponse != nil} {
		if set {
			n++
		}
	}
	return n
}

// validate checks the request like the real API; it returns the message of the
// 400 to answer, or "".
func (q *request) validate() string {
	if len(q.Contents) == 0 {
		return "* GenerateContentRequest.contents: contents is not specified"
	}
	prevCalls := 0
	for i, c := range q.Contents {
		if c.Role != "" && c.Role != "user" && c.Role != "model" {
			return fmt.Sprintf("Please use a valid role: user, model. (contents[%d].role %q)", i, c.Role)
		}
		if len(c.Parts) == 0 {
			return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.", i)
		}
		calls, responses := 0, 0
		for j, p := range c.Parts {
			if p.kinds() != 1 {
				return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts[%d].data: required oneof field 'data' must have one initialized field", i, j)
			}
			if p.FunctionCall != nil {
				calls++
			}
			if p.FunctionResponse != nil {
				responses++
			}
		}
		if responses > 0 {
			if prevCalls == 0 {
				return "Please ensure that function response turn comes immediately after a function call turn."
			}
			if responses != prevCalls {
				return "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn."
			}
		}
		prevCalls = calls
	}
	if q.SystemInstruction != nil {
		for j, p := range q.SystemInstruction.Parts {
			if p.Text == nil {
				return fmt.Sprintf("* GenerateContentRequest.system_instruction.parts[%d]: only text parts are supported", j)
			}
		}
	}
	for _, t := range q.Tools {
		for _, d := range t.FunctionDeclarations {
			if d.Name == "" {
				return "* GenerateContentRequest.tools[0].function_declarations[0].name: Name cannot be empty."
			}
			if d.Parameters != nil && d.ParametersJSONSchema != nil {
				return "parameters and parameters_json_schema are mutually exclusive"
			}
		}
	}
	if n := q.GenerationConfig.MaxOutputTokens; n != nil && *n < 1 {
		return "* GenerateContentRequest.generation_config.max_output_tokens: must be positive"
	}
	return ""
}

// declarations lists the declared functions.
func (q *request) declarations() []declaration {
	var ds []declaration
	for _, t := range q.Tools {
		ds = append(ds, t.FunctionDeclarations...)
	}
	return ds
}

// answersCalls reports whether the last turn holds function responses.
func (q *request) answersCalls() bool {
	for _, p := range q.Contents[len(q.Contents)-1].Parts {
		if p.FunctionResponse != nil {
			return true
		}
	}
	return false
}

// PromptTokens returns the promptTokenCount the fake reports for a
// generateContent request body: the words of the text parts of
// systemInstruction and contents. It returns 0 for an invalid body.
func PromptTokens(body []byte) int {
	var q request
	if json.Unmarshal(body, &q) != nil {
		return 0
	}
	return q.promptTokens()
}

func (q *request) promptTokens() int {
	n := 0
	cs := q.Contents
	if q.SystemInstruction != nil {
		cs = append([]content{*q.SystemInstruction}, cs...)
	}
	for _, c := range cs {
		for _, p := range c.Parts {
			if p.Text != nil {
				n += countWords(*p.Text)
			}
		}
	}
	return n
}

func countWords(s string) int {
	return len(strings.FieldsFunc(s, unicode.IsSpace))
}

// argsFor returns deterministic args for a function's schema (either form):
// a value per property; Go's JSON encoding sorts the keys.
func argsFor(d declaration) json.RawMessage {
	schema := d.ParametersJSONSchema
	if schema == nil {
		schema = d.Parameters
	}
	return fakekit.SchemaValues(schema)
}
