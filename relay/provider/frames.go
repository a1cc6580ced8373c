package provider

import "encoding/binary"

// SplitFrames splits an AWS event-stream byte stream into frames using each
// frame's 4-byte big-endian total length prefix. It does not check CRCs. Bytes
// that do not form a whole frame (a short tail or an impossible length) are
// returned as one last chunk, so the chunks always concatenate to b.
func SplitFrames(b []byte) [][]byte {
	const minFrame = 16
	var out [][]byte
	i := 0
	for len(b)-i >= 4 {
		n := int(binary.BigEndian.Uint32(b[i:]))
		if n < minFrame || n > len(b)-i {
			break
		}
		out = append(out, b[i:i+n:i+n])
		i += n
	}
	if i < len(b) {
		out = append(out, b[i:len(b):len(b)])
	}
	return out
}
