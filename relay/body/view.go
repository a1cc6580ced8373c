package body

import "unsafe"

// String views b as a string without copying, as gjson.GetBytes does. The string must not be
// kept after b's bytes change (a pooled body is reused once released): clone what is kept.
func String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// Bytes views s as a byte slice without copying. The slice must not be modified.
func Bytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
