package estimate

import (
	"encoding/base64"
	"encoding/binary"
	"math"

	"github.com/tidwall/gjson"
)

// imageTokens estimates an image block's tokens: width×height/750 after the API's scaling (long
// edge at most 1568 pixels, at most 1.15 megapixels), when a base64 PNG, GIF or JPEG tells its
// size; estImage otherwise.
func imageTokens(src gjson.Result) int {
	if src.Get("type").Str != "base64" {
		return estImage
	}
	w, h, ok := imageSize(src.Get("data").Str)
	if !ok || w <= 0 || h <= 0 {
		return estImage
	}
	fw, fh := float64(w), float64(h)
	if long := max(fw, fh); long > 1568 {
		fw, fh = fw*1568/long, fh*1568/long
	}
	if px := fw * fh; px > 1_150_000 {
		s := 1_150_000 / px
		fw, fh = fw*math.Sqrt(s), fh*math.Sqrt(s)
	}
	return max(1, int(fw*fh/750+0.5))
}

// imageSize reads the pixel size from the start of base64 image data, decoding at most 64 KiB.
func imageSize(b64 string) (w, h int, ok bool) {
	n := min(len(b64), 87384) &^ 3
	buf := make([]byte, base64.StdEncoding.DecodedLen(n))
	m, err := base64.StdEncoding.Decode(buf, []byte(b64[:n]))
	if err != nil && m == 0 {
		return 0, 0, false
	}
	b := buf[:m]
	switch {
	case len(b) >= 24 && string(b[:8]) == "\x89PNG\r\n\x1a\n" && string(b[12:16]) == "IHDR":
		return int(binary.BigEndian.Uint32(b[16:20])), int(binary.BigEndian.Uint32(b[20:24])), true
	case len(b) >= 10 && (string(b[:6]) == "GIF87a" || string(b[:6]) == "GIF89a"):
		return int(binary.LittleEndian.Uint16(b[6:8])), int(binary.LittleEndian.Uint16(b[8:10])), true
	case len(b) >= 4 && b[0] == 0xFF && b[1] == 0xD8:
		return jpegSize(b)
	}
	return 0, 0, false
}

// jpegSize walks the JPEG markers to the first start-of-frame segment.
func jpegSize(b []byte) (int, int, bool) {
	i := 2
	for i+9 < len(b) {
		if b[i] != 0xFF {
			return 0, 0, false
		}
		marker := b[i+1]
		if marker == 0xFF {
			i++
			continue
		}
		size := int(binary.BigEndian.Uint16(b[i+2 : i+4]))
		if marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC {
			return int(binary.BigEndian.Uint16(b[i+7 : i+9])), int(binary.BigEndian.Uint16(b[i+5 : i+7])), true
		}
		i += 2 + size
	}
	return 0, 0, false
}
