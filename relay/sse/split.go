package sse

// Split splits an SSE byte stream after each blank line, so that each
// chunk is one event with its terminating blank line. Line ends may be LF,
// CRLF or CR and are kept as they are. Blank lines before an event stay with
// that event, and trailing bytes without a blank line form the last chunk, so
// the chunks always concatenate to b.
func Split(b []byte) [][]byte {
	var out [][]byte
	start := 0     // start of the current chunk
	lineStart := 0 // start of the current line
	content := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\n' && c != '\r' {
			continue
		}
		end := i + 1 // just past the line terminator
		if c == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			end++
		}
		if i == lineStart { // blank line
			if content {
				out = append(out, b[start:end:end])
				start = end
				content = false
			}
		} else {
			content = true
		}
		i = end - 1
		lineStart = end
	}
	if start < len(b) {
		out = append(out, b[start:len(b):len(b)])
	}
	return out
}
