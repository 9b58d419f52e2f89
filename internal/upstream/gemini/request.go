// Package gemini translates between the OpenAI chat completions and embeddings
// formats and the Google Gemini API, so the gateway can serve Gemini models to
// OpenAI clients: BuildRequest turns an OpenAI request into generateContent,
// streamGenerateContent?alt=sse or batchEmbedContents; Response, Stream,
// EmbeddingsResponse and Error turn Gemini's answers back into OpenAI's shapes.
//
// Chat request mapping: system and developer messages become
// systemInstruction; assistant messages become "model" contents, their
// tool_calls functionCall parts; tool messages become functionResponse parts
// of a user content (the function name is recovered from the assistant
// tool_call with that id; a JSON object result is sent as the response, any
// other content as {"result": content}); consecutive messages of one role are
// merged, tool results only with tool results. Images and files given as data:
// URLs become inlineData, http(s) image URLs fileData (MIME type from the
// extension, image/jpeg if unknown), input_audio inlineData. Tools become
// functionDeclarations with parametersJsonSchema; tool_choice auto, none,
// required and a function become functionCallingConfig AUTO, NONE, ANY and ANY
// restricted to that function. generationConfig takes max_completion_tokens
// (or max_tokens), temperature, top_p, stop, n, seed, the penalties,
// response_format (json_object and json_schema) and reasoning_effort
// (thinkingBudget 0 for none/minimal, 1024 low, 8192 medium, 24576 high, with
// includeThoughts). parallel_tool_calls and logprobs are ignored.
//
// Thought signatures of function calls are not carried across turns (OpenAI's
// format has no place for them); models that require them on replayed calls
// will refuse such conversations.
package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/upstream/openaiwire"
)

// DefaultVersion is the API version in the path when none is configured.
const DefaultVersion = "v1beta"

const userAgent = "antigravity-gateway/1"

// BuildRequest converts an OpenAI request body for op ("chat/completions" or
// "embeddings") into the Gemini request: POST
// {base}/{version}/models/{model}:generateContent (streaming:
// :streamGenerateContent?alt=sse; embeddings: :batchEmbedContents) with the
// x-goog-api-key header. apiVersion replaces v1beta when set. Errors caused by
// the request itself are *apierror.Error with status 400; others are plain.
func BuildRequest(ctx context.Context, base *url.URL, credential, upstreamModel, apiVersion, op string, openAIBody []byte) (*http.Request, error) {
	var (
		body   []byte
		model  string
		method string
		err    error
	)
	switch op {
	case "chat/completions":
		var stream bool
		body, model, stream, err = translateChat(openAIBody)
		method = "generateContent"
		if stream {
			method = "streamGenerateContent"
		}
	case "embeddings":
		body, model, err = translateEmbeddings(openAIBody, upstreamModel)
		method = "batchEmbedContents"
	default:
		return nil, fmt.Errorf("gemini: unsupported operation %q", op)
	}
	if err != nil {
		return nil, err
	}
	if upstreamModel != "" {
		model = upstreamModel
	}
	if model == "" {
		return nil, apierror.InvalidRequest("model", "You must provide a model parameter.")
	}
	if apiVersion == "" {
		apiVersion = DefaultVersion
	}
	u := *base
	p := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(p, "/"+apiVersion) {
		p += "/" + apiVersion
	}
	u.Path, u.RawPath = p+"/"+modelPath(model)+":"+method, ""
	if method == "streamGenerateContent" {
		q := u.Query()
		q.Set("alt", "sse")
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json, text/event-stream")
	h.Set("User-Agent", userAgent)
	if credential != "" {
		h.Set("x-goog-api-key", credential)
	}
	return req, nil
}

// modelPath returns the resource name of a model: "models/NAME", or the name
// itself if it already has a collection ("models/…", "tunedModels/…").
func modelPath(model string) string {
	if strings.Contains(model, "/") {
		return model
	}
	return "models/" + model
}

// translateChat converts an OpenAI chat completion body to a generateContent
// body; it also returns the body's model and stream flag.
func translateChat(body []byte) ([]byte, string, bool, error) {
	var in chatRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, "", false, apierror.InvalidRequest("", "The request body is not a valid chat completion request: "+err.Error())
	}
	var out generateRequest
	var err error
	if out.SystemInstruction, out.Contents, err = convertMessages(in.Messages); err != nil {
		return nil, "", false, err
	}
	if out.Tools, out.ToolConfig, err = convertTools(in.Tools, in.ToolChoice); err != nil {
		return nil, "", false, err
	}
	if out.GenerationConfig, err = convertConfig(&in); err != nil {
		return nil, "", false, err
	}
	b, err := openaiwire.Marshal(out)
	return b, in.Model, in.Stream, err
}

func convertConfig(in *chatRequest) (*generationConfig, error) {
	gc := generationConfig{Temperature: in.Temperature, TopP: in.TopP, Seed: in.Seed,
		PresencePenalty: in.PresencePenalty, FrequencyPenalty: in.FrequencyPenalty}
	if in.MaxCompletionTokens != nil && *in.MaxCompletionTokens > 0 {
		gc.MaxOutputTokens = in.MaxCompletionTokens
	} else if in.MaxTokens != nil && *in.MaxTokens > 0 {
		gc.MaxOutputTokens = in.MaxTokens
	}
	if in.N != nil && *in.N > 1 {
		gc.CandidateCount = in.N
	}
	stop, err := stopSequences(in.Stop)
	if err != nil {
		return nil, err
	}
	gc.StopSequences = stop
	if rf := in.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			gc.ResponseMimeType = "application/json"
		case "json_schema":
			gc.ResponseMimeType = "application/json"
			if rf.JSONSchema != nil && len(rf.JSONSchema.Schema) > 0 && string(rf.JSONSchema.Schema) != "null" {
				gc.ResponseJSONSchema = rf.JSONSchema.Schema
			}
		default:
			return nil, apierror.InvalidRequest("response_format.type", "Unsupported response_format type '"+rf.Type+"'.")
		}
	}
	switch in.ReasoningEffort {
	case "":
	case "none", "minimal":
		gc.ThinkingConfig = &thinkingConfig{ThinkingBudget: 0}
	case "low":
		gc.ThinkingConfig = &thinkingConfig{IncludeThoughts: true, ThinkingBudget: 1024}
	case "medium":
		gc.ThinkingConfig = &thinkingConfig{IncludeThoughts: true, ThinkingBudget: 8192}
	case "high":
		gc.ThinkingConfig = &thinkingConfig{IncludeThoughts: true, ThinkingBudget: 24576}
	default:
		return nil, apierror.InvalidRequest("reasoning_effort", "Invalid 'reasoning_effort': expected none, minimal, low, medium or high.")
	}
	if b, err := openaiwire.Marshal(gc); err != nil || string(b) == "{}" {
		return nil, err
	}
	return &gc, nil
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

// convertMessages builds systemInstruction and contents.
func convertMessages(msgs []openaiwire.ChatMessage) (*content, []content, error) {
	var system *content
	var out []content
	toolResults := map[int]bool{} // indexes in out of contents holding tool results
	names := map[string]string{}  // tool call id → function name
	add := func(role string, ps []part, isTool bool) {
		if len(ps) == 0 {
			return
		}
		if n := len(out); n > 0 && out[n-1].Role == role && toolResults[n-1] == isTool {
			out[n-1].Parts = append(out[n-1].Parts, ps...)
			return
		}
		toolResults[len(out)] = isTool
		out = append(out, content{Role: role, Parts: ps})
	}
	for i, m := range msgs {
		param := "messages[" + strconv.Itoa(i) + "]"
		switch m.Role {
		case "system", "developer":
			texts, err := textOnly(m.Content, param)
			if err != nil {
				return nil, nil, err
			}
			if s := strings.Join(texts, "\n"); s != "" {
				if system == nil {
					system = &content{}
				}
				system.Parts = append(system.Parts, part{Text: s})
			}
		case "user":
			ps, err := userParts(m.Content, param)
			if err != nil {
				return nil, nil, err
			}
			add("user", ps, false)
		case "assistant":
			ps, err := modelParts(m, param, names)
			if err != nil {
				return nil, nil, err
			}
			add("model", ps, false)
		case "tool":
			p, err := toolResponse(m, param, names)
			if err != nil {
				return nil, nil, err
			}
			add("user", []part{p}, true)
		default:
			return nil, nil, apierror.InvalidRequest(param+".role",
				"Unsupported role '"+m.Role+"' for a Gemini model: use system, developer, user, assistant or tool.")
		}
	}
	if len(out) == 0 {
		return nil, nil, apierror.InvalidRequest("messages", "The conversation has no user or assistant message with content.")
	}
	return system, out, nil
}

func userParts(raw json.RawMessage, param string) ([]part, error) {
	ps, err := parts(raw, param)
	if err != nil {
		return nil, err
	}
	var out []part
	for j, p := range ps {
		pp := param + ".content[" + strconv.Itoa(j) + "]"
		switch p.Type {
		case "text":
			if p.Text != "" {
				out = append(out, part{Text: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, apierror.InvalidRequest(pp+".image_url", "Missing image URL.")
			}
			gp, err := mediaPart(p.ImageURL.URL, pp+".image_url.url", true)
			if err != nil {
				return nil, err
			}
			out = append(out, gp)
		case "file":
			if p.File == nil || p.File.FileData == "" {
				return nil, apierror.InvalidRequest(pp+".file",
					"Gemini models need files inline: send file.file_data as a data: URL (file_id is not supported).")
			}
			gp, err := mediaPart(p.File.FileData, pp+".file.file_data", false)
			if err != nil {
				return nil, err
			}
			out = append(out, gp)
		case "input_audio":
			if p.InputAudio == nil || p.InputAudio.Data == "" {
				return nil, apierror.InvalidRequest(pp+".input_audio", "Missing audio data.")
			}
			mt := map[string]string{"wav": "audio/wav", "mp3": "audio/mp3"}[p.InputAudio.Format]
			if mt == "" {
				return nil, apierror.InvalidRequest(pp+".input_audio.format", "Audio format must be wav or mp3.")
			}
			out = append(out, part{InlineData: &blob{MimeType: mt, Data: p.InputAudio.Data}})
		default:
			return nil, apierror.InvalidRequest(pp+".type", "Content parts of type '"+p.Type+"' are not supported by Gemini models.")
		}
	}
	return out, nil
}

// mediaPart converts a data: URL to inlineData, an http(s) URL (images only)
// to fileData.
func mediaPart(u, param string, image bool) (part, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mediaType, isB64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isB64 || mediaType == "" {
			return part{}, apierror.InvalidRequest(param, "Invalid data URL: expected data:<media type>;base64,<data>.")
		}
		return part{InlineData: &blob{MimeType: mediaType, Data: data}}, nil
	}
	if image && (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) {
		mt := "image/jpeg"
		if pu, err := url.Parse(u); err == nil {
			if t, _, _ := strings.Cut(mime.TypeByExtension(path.Ext(pu.Path)), ";"); strings.HasPrefix(t, "image/") {
				mt = t
			}
		}
		return part{FileData: &fileData{MimeType: mt, FileURI: u}}, nil
	}
	if image {
		return part{}, apierror.InvalidRequest(param, "Expected a data: URL or an http(s) URL.")
	}
	return part{}, apierror.InvalidRequest(param, "Expected a data: URL.")
}

func modelParts(m openaiwire.ChatMessage, param string, names map[string]string) ([]part, error) {
	ps, err := parts(m.Content, param)
	if err != nil {
		return nil, err
	}
	var out []part
	for j, p := range ps {
		switch p.Type {
		case "text":
			if p.Text != "" {
				out = append(out, part{Text: p.Text})
			}
		case "refusal":
			if p.Refusal != "" {
				out = append(out, part{Text: p.Refusal})
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
		args := json.RawMessage("{}")
		if a := strings.TrimSpace(tc.Function.Arguments); a != "" {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal([]byte(a), &obj); err != nil || obj == nil {
				return nil, apierror.InvalidRequest(pp+".function.arguments", "Tool call arguments must be a JSON object.")
			}
			args = json.RawMessage(a)
		}
		names[tc.ID] = tc.Function.Name
		out = append(out, part{FunctionCall: &functionCallPart{Name: tc.Function.Name, Args: args}})
	}
	return out, nil
}

func toolResponse(m openaiwire.ChatMessage, param string, names map[string]string) (part, error) {
	name, ok := names[m.ToolCallID]
	if !ok {
		return part{}, apierror.InvalidRequest(param+".tool_call_id",
			"No earlier assistant tool call has the id '"+m.ToolCallID+"'; Gemini needs it to name the function.")
	}
	texts, err := textOnly(m.Content, param)
	if err != nil {
		return part{}, err
	}
	result := strings.Join(texts, "")
	resp := json.RawMessage(nil)
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(result), &obj) == nil && obj != nil {
		resp = json.RawMessage(result)
	} else if resp, err = openaiwire.Marshal(map[string]string{"result": result}); err != nil {
		return part{}, err
	}
	return part{FunctionResponse: &functionResponse{Name: name, Response: resp}}, nil
}

func convertTools(tools []openaiwire.ChatTool, choice json.RawMessage) ([]tool, *toolConfig, error) {
	var decls []functionDeclaration
	for i, t := range tools {
		param := "tools[" + strconv.Itoa(i) + "]"
		if t.Type != "function" {
			return nil, nil, apierror.InvalidRequest(param+".type", "Only function tools are supported by Gemini models.")
		}
		if t.Function.Name == "" {
			return nil, nil, apierror.InvalidRequest(param+".function.name", "A tool needs a function name.")
		}
		d := functionDeclaration{Name: t.Function.Name, Description: t.Function.Description}
		if s := t.Function.Parameters; len(s) > 0 && string(s) != "null" {
			d.ParametersJSONSchema = s
		}
		decls = append(decls, d)
	}
	var tc *toolConfig
	choice = bytes.TrimSpace(choice)
	if len(choice) > 0 && string(choice) != "null" {
		var mode string
		if json.Unmarshal(choice, &mode) == nil {
			m := map[string]string{"auto": "AUTO", "none": "NONE", "required": "ANY"}[mode]
			if m == "" {
				return nil, nil, apierror.InvalidRequest("tool_choice", "Invalid 'tool_choice': expected auto, none, required or a function.")
			}
			tc = &toolConfig{FunctionCallingConfig: functionCallingConfig{Mode: m}}
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
			tc = &toolConfig{FunctionCallingConfig: functionCallingConfig{Mode: "ANY", AllowedFunctionNames: []string{fn.Function.Name}}}
		}
	}
	if len(decls) == 0 {
		return nil, nil, nil
	}
	return []tool{{FunctionDeclarations: decls}}, tc, nil
}
