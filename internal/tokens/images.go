package tokens

// Non-text content parts: images (OpenAI's published formula), audio and files
// (documented approximations). Every function here reads at most the header of
// inline data, streaming the base64 decoding, except FileTokens on a PDF, which
// scans the document for its pages without holding it in memory.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
)

// Image costs (OpenAI vision guide, "Calculating costs", for gpt-4o, gpt-4.1,
// gpt-4.5, o1 and o3): a "low" detail image is 85 tokens; a "high" detail image
// is first scaled to fit in 2048×2048, then so that its shortest side is 768px
// (downscaling only), and costs 85 plus 170 per 512px tile. "auto" and an absent
// detail are counted as "high". gpt-4o-mini bills images with larger multipliers
// and the gpt-4.1-mini/nano family in 32px patches; neither is modelled here.
const (
	ImageLowTokens  = 85
	imageBaseTokens = 85
	imageTileTokens = 170
	imageTileSide   = 512
	imageMaxSide    = 2048
	imageShortSide  = 768
	// AssumedImageSide is the side of the square image assumed when the size
	// cannot be read (an https URL, or a data: URL in an unknown format):
	// 1024×1024, 765 tokens in high detail.
	AssumedImageSide = 1024
	// MaxImageTokens is the most one image can cost: at most 768×2048 after
	// scaling, 2×4 tiles.
	MaxImageTokens = imageBaseTokens + 8*imageTileTokens
)

// ImageTokens returns the tokens of an image_url part.
func ImageTokens(url, detail string) int {
	if detail == "low" {
		return ImageLowTokens
	}
	w, h, ok := DataURLImageSize(url)
	if !ok {
		w, h = AssumedImageSide, AssumedImageSide
	}
	return HighDetailImageTokens(w, h)
}

// HighDetailImageTokens returns the tokens of a w×h image in high detail.
func HighDetailImageTokens(w, h int) int {
	if w <= 0 || h <= 0 {
		w, h = AssumedImageSide, AssumedImageSide
	}
	if w > imageMaxSide || h > imageMaxSide {
		if w >= h {
			w, h = imageMaxSide, max(1, h*imageMaxSide/w)
		} else {
			w, h = max(1, w*imageMaxSide/h), imageMaxSide
		}
	}
	if short := min(w, h); short > imageShortSide {
		w, h = w*imageShortSide/short, h*imageShortSide/short
	}
	tiles := ceilDiv(w, imageTileSide) * ceilDiv(h, imageTileSide)
	return imageBaseTokens + imageTileTokens*tiles
}

// ImageTokensBound returns the most the image parts of msgs can count
// (MaxImageTokens each, ImageLowTokens for "low" detail). Images are the only
// parts whose tokens can exceed the bytes of their JSON: text is at least one
// byte per token, and AudioTokens and FileTokens never exceed the bytes of their
// data. So the JSON length of messages and tools plus this bound is an upper
// bound of ChatMessages.
func ImageTokensBound(msgs []Message) int {
	n := 0
	for i := range msgs {
		for _, p := range msgs[i].Content.Parts {
			if p.Type != "image_url" {
				continue
			}
			if p.ImageURL != nil && p.ImageURL.Detail == "low" {
				n += ImageLowTokens
			} else {
				n += MaxImageTokens
			}
		}
	}
	return n
}

// DataURLImageSize reads the dimensions of a base64 data: URL image from its
// header only (PNG, JPEG, GIF or WebP, recognised by their magic bytes).
func DataURLImageSize(url string) (w, h int, ok bool) {
	payload, ok := dataURLPayload(url)
	if !ok {
		return 0, 0, false
	}
	r := base64.NewDecoder(base64.StdEncoding, strings.NewReader(payload))
	var head [30]byte
	n, _ := io.ReadFull(r, head[:])
	hdr := head[:n]
	rest := io.MultiReader(bytes.NewReader(hdr), r)
	switch {
	case bytes.HasPrefix(hdr, []byte("\x89PNG\r\n\x1a\n")):
		cfg, err := png.DecodeConfig(rest)
		return cfg.Width, cfg.Height, err == nil
	case bytes.HasPrefix(hdr, []byte{0xff, 0xd8, 0xff}):
		cfg, err := jpeg.DecodeConfig(rest)
		return cfg.Width, cfg.Height, err == nil
	case bytes.HasPrefix(hdr, []byte("GIF87a")), bytes.HasPrefix(hdr, []byte("GIF89a")):
		cfg, err := gif.DecodeConfig(rest)
		return cfg.Width, cfg.Height, err == nil
	case len(hdr) == 30 && string(hdr[0:4]) == "RIFF" && string(hdr[8:12]) == "WEBP":
		return webpSize(hdr)
	}
	return 0, 0, false
}

// webpSize reads the canvas size from the first chunk of a WebP file (lossy
// "VP8 ", lossless "VP8L" or extended "VP8X"); hdr is its first 30 bytes.
func webpSize(hdr []byte) (w, h int, ok bool) {
	switch string(hdr[12:16]) {
	case "VP8 ":
		if hdr[23] != 0x9d || hdr[24] != 0x01 || hdr[25] != 0x2a {
			return 0, 0, false
		}
		w = int(binary.LittleEndian.Uint16(hdr[26:28]) & 0x3fff)
		h = int(binary.LittleEndian.Uint16(hdr[28:30]) & 0x3fff)
	case "VP8L":
		if hdr[20] != 0x2f {
			return 0, 0, false
		}
		b := binary.LittleEndian.Uint32(hdr[21:25])
		w = int(b&0x3fff) + 1
		h = int(b>>14&0x3fff) + 1
	case "VP8X":
		w = int(uint32(hdr[24])|uint32(hdr[25])<<8|uint32(hdr[26])<<16) + 1
		h = int(uint32(hdr[27])|uint32(hdr[28])<<8|uint32(hdr[29])<<16) + 1
	default:
		return 0, 0, false
	}
	return w, h, w > 0 && h > 0
}

// dataURLPayload returns the base64 payload of a "data:<mime>;base64,<data>" URL.
func dataURLPayload(url string) (string, bool) {
	if !strings.HasPrefix(url, "data:") {
		return "", false
	}
	comma := strings.IndexByte(url, ',')
	if comma < 0 || !strings.HasSuffix(url[:comma], ";base64") {
		return "", false
	}
	return url[comma+1:], true
}

// Audio (input_audio parts): OpenAI bills user audio at about one token per
// 100ms (10 per second). The duration comes from a WAV header's byte rate; MP3
// (or an unreadable header) is assumed to be 128 kbit/s (16,000 bytes a second).
// The byte rate is floored at 1,000 bytes a second, so an audio part never counts
// more than a hundredth of its bytes.
const (
	audioTokensPerSecond   = 10
	assumedAudioByteRate   = 16_000
	minAudioByteRate       = 1_000
	wavHeaderBytes         = 44
	wavByteRateOffset      = 28
	wavMinimumHeaderLength = 32
)

// AudioTokens approximates the tokens of base64 audio data in format.
func AudioTokens(data, format string) int {
	n := decodedLen(data)
	rate := assumedAudioByteRate
	if format == "wav" {
		if br, ok := wavByteRate(data); ok {
			rate = br
			n -= wavHeaderBytes
		}
	}
	if n <= 0 {
		return 0
	}
	rate = max(rate, minAudioByteRate)
	return ceilDiv(n*audioTokensPerSecond, rate)
}

func wavByteRate(data string) (int, bool) {
	r := base64.NewDecoder(base64.StdEncoding, strings.NewReader(data))
	var hdr [wavMinimumHeaderLength]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, false
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" || string(hdr[12:16]) != "fmt " {
		return 0, false
	}
	return int(binary.LittleEndian.Uint32(hdr[wavByteRateOffset:])), true
}

// Files (file parts): OpenAI gives the model both the extracted text and an
// image of each page of a PDF. The approximation is 1,000 tokens a page (a
// high-detail page image, 765, plus about 235 of text); pages are found by
// their "/Type /Page" objects, or, when the page objects are compressed out of
// sight, assumed at one per 100 kB. Any other file is counted like text, one
// token per four bytes. The count never exceeds the file's byte length. A file
// sent by id only counts 0: its content is unknown here, and the upstream's own
// limit check remains authoritative.
const (
	filePageTokens      = 1_000
	fileBytesPerPage    = 100_000
	fileBytesPerToken   = 4
	pdfScanChunk        = 64 << 10
	pdfMarkerLookahead  = 32
	pdfMaxMarkerSpacing = 20
)

// FileTokens approximates the tokens of a file part's file_data (a base64 data:
// URL or bare base64).
func FileTokens(fileData string) int {
	if fileData == "" {
		return 0
	}
	payload, ok := dataURLPayload(fileData)
	if !ok {
		payload = fileData
	}
	n := decodedLen(payload)
	r := base64.NewDecoder(base64.StdEncoding, strings.NewReader(payload))
	var magic [5]byte
	m, _ := io.ReadFull(r, magic[:])
	if string(magic[:m]) != "%PDF-" {
		return ceilDiv(n, fileBytesPerToken)
	}
	pages := pdfPages(io.MultiReader(bytes.NewReader(magic[:m]), r))
	if pages == 0 {
		pages = max(1, n/fileBytesPerPage)
	}
	return min(pages*filePageTokens, n)
}

// pdfPages counts "/Type /Page" markers (not "/Type /Pages") in a stream,
// chunk by chunk, keeping a short tail so that a marker split across chunks is
// seen once.
func pdfPages(r io.Reader) int {
	buf := make([]byte, 0, pdfScanChunk+pdfMarkerLookahead)
	chunk := make([]byte, pdfScanChunk)
	pages := 0
	for {
		n, err := io.ReadFull(r, chunk)
		buf = append(buf, chunk[:n]...)
		eof := err != nil
		limit := len(buf)
		if !eof {
			limit = max(0, len(buf)-pdfMarkerLookahead)
		}
		pages += pageMarkers(buf, limit)
		if eof {
			return pages
		}
		buf = buf[:copy(buf, buf[limit:])]
	}
}

// pageMarkers counts the page markers of buf that start before limit.
func pageMarkers(buf []byte, limit int) int {
	pages := 0
	for i := 0; i < limit; {
		j := bytes.Index(buf[i:], []byte("/Type"))
		if j < 0 || i+j >= limit {
			break
		}
		k := i + j + len("/Type")
		for s := 0; k < len(buf) && s < pdfMaxMarkerSpacing && isPDFSpace(buf[k]); s++ {
			k++
		}
		if bytes.HasPrefix(buf[k:], []byte("/Page")) && (k+5 == len(buf) || buf[k+5] != 's') {
			pages++
		}
		i = i + j + len("/Type")
	}
	return pages
}

func isPDFSpace(b byte) bool {
	return b == ' ' || b == '\n' || b == '\r' || b == '\t' || b == '\f' || b == 0
}

// decodedLen is the byte length of base64 data (padded or not).
func decodedLen(s string) int {
	s = strings.TrimRight(s, "=")
	return len(s) * 3 / 4
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
