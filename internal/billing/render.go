package billing

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/antigravity/gateway/internal/apierror"
	"github.com/antigravity/gateway/internal/store"
)

// wantsCSV reads ?format=csv|json, else whether Accept prefers text/csv over
// JSON.
func wantsCSV(r *http.Request) (bool, error) {
	q := r.URL.Query()
	if q.Has("format") {
		switch strings.ToLower(q.Get("format")) {
		case "csv":
			return true, nil
		case "json":
			return false, nil
		}
		return false, apierror.InvalidRequest("format", "'format' must be csv or json.")
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/csv":
			return true, nil
		case "application/json", "*/*":
			return false, nil
		}
	}
	return false, nil
}

// writeJSON renders v with status 200.
func writeJSON(w http.ResponseWriter, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// table is a CSV document: a header and rows of cells.
type table struct {
	header []string
	rows   [][]string
}

// writeCSV renders t as an attachment named filename.
func writeCSV(w http.ResponseWriter, filename string, t table) error {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	if err := cw.Write(t.header); err != nil {
		return err
	}
	for _, row := range t.rows {
		for i, c := range row {
			row[i] = safeCell(c)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// safeCell keeps a text cell from being read as a formula by spreadsheets
// (OWASP CSV injection): a leading = + - @ tab or CR gets a quote prefix.
// Numbers are never passed through it.
func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return s // a plain (negative) number
		}
		return "'" + s
	}
	return s
}

// amountHeader names the amount columns of a CSV row.
func amountHeader() []string {
	return []string{"requests", "prompt_tokens", "completion_tokens", "cached_tokens",
		"reasoning_tokens", "total_cost_usd"}
}

// amountCells renders a's amounts as CSV cells (cost in USD, exactly).
func amountCells(a store.BillingAmounts) []string {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return []string{i(a.Requests), i(a.PromptTokens), i(a.CompletionTokens), i(a.CachedTokens),
		i(a.ReasoningTokens), a.Cost.USD()}
}

// cells joins leading text cells with the amount cells of a.
func cells(a store.BillingAmounts, lead ...string) []string {
	return append(lead, amountCells(a)...)
}

// headerOf joins leading column names with the amount columns.
func headerOf(lead ...string) []string { return append(lead, amountHeader()...) }
