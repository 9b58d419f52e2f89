package server

import (
	"encoding/json"
	"net/http"
)

func encodeChecks(out map[string]string) []byte {
	status := "ok"
	for _, v := range out {
		if v != "ok" {
			status = "unavailable"
		}
	}
	b, _ := json.Marshal(map[string]any{"status": status, "checks": out})
	return append(b, '\n')
}

var _ http.Flusher = (*statusWriter)(nil)
