// Package openaiwire holds what the provider translators (anthropic, gemini)
// share about the OpenAI side of a translation: the chat completion request,
// response, chunk, usage and error wire types, a server-sent events reader
// and writer, and helpers for parsing request content.
package openaiwire
