package tokens

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

func TestHighDetailImageTokens(t *testing.T) {
	tests := []struct {
		w, h, want int
	}{
		// OpenAI's published examples.
		{1024, 1024, 765},  // scaled to 768×768: 4 tiles
		{2048, 4096, 1105}, // 1024×2048, then 768×1536: 6 tiles
		// Small images are not upscaled.
		{512, 512, 255},
		{100, 100, 255},
		{1, 1, 255},
		{513, 513, 765},
		{768, 768, 765},
		{1500, 600, 85 + 170*6}, // shortest side 600: 3×2 tiles
		// Beyond 2048 first fit, then shorten.
		{4096, 8192, 1105},
		{768, 2048, MaxImageTokens},
		{10000, 100, 85 + 170*4}, // 2048×20: 4×1 tiles
		{100, 10000, 85 + 170*4},
		// Unknown size: the 1024×1024 assumption.
		{0, 0, 765},
	}
	for _, tt := range tests {
		if got := HighDetailImageTokens(tt.w, tt.h); got != tt.want {
			t.Errorf("HighDetailImageTokens(%d, %d) = %d, want %d", tt.w, tt.h, got, tt.want)
		}
	}
}

func dataURL(mime string, b []byte) string {
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(b)
}

func encodePNG(t *testing.T, w, h int) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return dataURL("image/png", buf.Bytes())
}

// webpHeader builds the first 30 bytes of a WebP file with the given first chunk.
func webpHeader(chunk string, w, h int) []byte {
	b := make([]byte, 30)
	copy(b, "RIFF")
	copy(b[8:], "WEBP")
	copy(b[12:], chunk)
	switch chunk {
	case "VP8 ":
		b[23], b[24], b[25] = 0x9d, 0x01, 0x2a
		binary.LittleEndian.PutUint16(b[26:], uint16(w))
		binary.LittleEndian.PutUint16(b[28:], uint16(h))
	case "VP8L":
		b[20] = 0x2f
		binary.LittleEndian.PutUint32(b[21:], uint32(w-1)|uint32(h-1)<<14)
	case "VP8X":
		w, h = w-1, h-1
		b[24], b[25], b[26] = byte(w), byte(w>>8), byte(w>>16)
		b[27], b[28], b[29] = byte(h), byte(h>>8), byte(h>>16)
	}
	return b
}

func TestImageSizeFromDataURL(t *testing.T) {
	var jpg, gf bytes.Buffer
	if err := jpeg.Encode(&jpg, image.NewGray(image.Rect(0, 0, 1000, 300)), nil); err != nil {
		t.Fatal(err)
	}
	if err := gif.Encode(&gf, image.NewPaletted(image.Rect(0, 0, 40, 30), color.Palette{color.Black}), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		url    string
		w, h   int
		wantOK bool
	}{
		{"png", encodePNG(t, 1500, 600), 1500, 600, true},
		{"jpeg", dataURL("image/jpeg", jpg.Bytes()), 1000, 300, true},
		{"gif", dataURL("image/gif", gf.Bytes()), 40, 30, true},
		{"webp lossy", dataURL("image/webp", webpHeader("VP8 ", 800, 600)), 800, 600, true},
		{"webp lossless", dataURL("image/webp", webpHeader("VP8L", 3000, 20)), 3000, 20, true},
		{"webp extended", dataURL("image/webp", webpHeader("VP8X", 5000, 4000)), 5000, 4000, true},
		// The format is sniffed, not taken from the declared type.
		{"png declared as jpeg", strings.Replace(encodePNG(t, 7, 9), "image/png", "image/jpeg", 1), 7, 9, true},
		{"https url", "https://example.com/cat.png", 0, 0, false},
		{"not base64", "data:image/png,%89PNG", 0, 0, false},
		{"no comma", "data:image/png;base64", 0, 0, false},
		{"garbage", dataURL("image/png", []byte("not an image at all, honestly")), 0, 0, false},
		{"truncated png", dataURL("image/png", []byte("\x89PNG\r\n\x1a\n\x00\x00")), 0, 0, false},
		{"invalid base64", "data:image/png;base64,!!!!", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, h, ok := DataURLImageSize(tt.url)
			if ok != tt.wantOK || w != tt.w || h != tt.h {
				t.Errorf("DataURLImageSize = %d, %d, %v; want %d, %d, %v", w, h, ok, tt.w, tt.h, tt.wantOK)
			}
		})
	}
}

func TestImageTokensInMessages(t *testing.T) {
	c := NewCounter()
	png1500 := encodePNG(t, 1500, 600)
	png10 := encodePNG(t, 10, 10)
	tests := []struct {
		name, url, detail string
		want              int
	}{
		{"low", png1500, "low", 85},
		{"high png 1500x600", png1500, "high", 85 + 170*6},
		{"auto counts as high", png1500, "auto", 85 + 170*6},
		{"absent detail counts as high", png1500, "", 85 + 170*6},
		{"tiny png", png10, "high", 255},
		{"https assumed 1024x1024", "https://example.com/a.png", "high", 765},
		{"https low", "https://example.com/a.png", "low", 85},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ImageTokens(tt.url, tt.detail); got != tt.want {
				t.Fatalf("ImageTokens = %d, want %d", got, tt.want)
			}
			part, _ := json.Marshal(map[string]any{"type": "image_url", "image_url": map[string]string{"url": tt.url, "detail": tt.detail}})
			msgs := `[{"role":"user","content":[` + string(part) + `]}]`
			got, err := c.ChatPrompt("gpt-4o", json.RawMessage(msgs), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := tokensPerMessage + replyPriming + c.Text("gpt-4o", "user") + tt.want; got != want {
				t.Errorf("ChatPrompt = %d, want %d", got, want)
			}
		})
	}
}

func TestImageTokensBound(t *testing.T) {
	msgs, err := DecodeMessages(json.RawMessage(`[
		{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x","detail":"low"}}]},
		{"role":"user","content":"no images"},
		{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://y"}},{"type":"image_url","image_url":{"url":"https://z","detail":"high"}}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ImageTokensBound(msgs), 85+2*MaxImageTokens; got != want {
		t.Errorf("ImageTokensBound = %d, want %d", got, want)
	}
	if got := ImageTokensBound(nil); got != 0 {
		t.Errorf("ImageTokensBound(nil) = %d", got)
	}
}

func wav(byteRate uint32, dataBytes int) string {
	b := make([]byte, 44+dataBytes)
	copy(b, "RIFF")
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[28:], byteRate)
	copy(b[36:], "data")
	return base64.StdEncoding.EncodeToString(b)
}

func TestAudioTokens(t *testing.T) {
	tests := []struct {
		name, data, format string
		want               int
	}{
		{"wav one second at 32 kB/s", wav(32_000, 32_000), "wav", 10},
		{"wav 2.5 s at 16 kB/s", wav(16_000, 40_000), "wav", 25},
		{"wav partial tenth rounds up", wav(32_000, 100), "wav", 1},
		{"wav absurd byte rate floored", wav(1, 1_000), "wav", 10},
		{"mp3 assumed 128 kbit/s", base64.StdEncoding.EncodeToString(make([]byte, 48_000)), "mp3", 30},
		{"wav without header treated as mp3", base64.StdEncoding.EncodeToString(make([]byte, 16_000)), "wav", 10},
		{"empty", "", "wav", 0},
	}
	for _, tt := range tests {
		if got := AudioTokens(tt.data, tt.format); got != tt.want {
			t.Errorf("%s: AudioTokens = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// pdf returns a fake PDF with the given page objects, padded to size bytes;
// pad bytes are inserted before the page objects so a marker can be placed
// across a scan chunk boundary.
func pdf(pages, size, padBefore int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	b.Write(bytes.Repeat([]byte{'%'}, padBefore))
	b.WriteString("1 0 obj << /Type /Pages /Count 3 >> endobj\n")
	for i := 0; i < pages; i++ {
		if i%2 == 0 {
			b.WriteString("2 0 obj << /Type /Page /Parent 1 0 R >> endobj\n")
		} else {
			b.WriteString("3 0 obj <</Type/Page/Parent 1 0 R>> endobj\n")
		}
	}
	if b.Len() < size {
		b.Write(bytes.Repeat([]byte{' '}, size-b.Len()))
	}
	return b.Bytes()
}

func TestFileTokens(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString
	// A marker that straddles the first 64 kB scan chunk is still counted once.
	straddle := pdf(1, 200_000, pdfScanChunk-len("%PDF-1.4\n")-len("1 0 obj << /Type /Pages /Count 3 >> endobj\n")-12)
	tests := []struct {
		name, data string
		want       int
	}{
		{"empty", "", 0},
		{"three pages", "data:application/pdf;base64," + enc(pdf(3, 10_000, 0)), 3_000},
		{"bare base64", enc(pdf(2, 10_000, 0)), 2_000},
		{"capped at byte length", enc(pdf(3, 0, 0)), len(pdf(3, 0, 0))},
		{"marker across chunk boundary", enc(straddle), 1_000},
		{"no visible pages: one per 100 kB", enc(pdf(0, 350_000, 0)), 3_000},
		{"no visible pages, small: one page", enc(pdf(0, 5_000, 0)), 1_000},
		{"text file: four bytes a token", "data:text/plain;base64," + enc([]byte(strings.Repeat("abcd", 250))), 250},
	}
	for _, tt := range tests {
		if got := FileTokens(tt.data); got != tt.want {
			t.Errorf("%s: FileTokens = %d, want %d", tt.name, got, tt.want)
		}
	}
}
