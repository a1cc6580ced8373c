package keys

import "strings"

// Masked returns a form of key fit for logs: its public type prefix, if any, and its last four
// characters, as in "sk-ant-…f3a9". Keys shorter than 12 characters show nothing but "…", and
// an empty key stays empty.
func Masked(key string) string {
	if key == "" {
		return ""
	}
	if len(key) < 12 {
		return "…"
	}
	return typePrefix(key) + "…" + key[len(key)-4:]
}

// typePrefix returns the leading dash-separated segments that name a key's type ("sk-",
// "sk-ant-"): at most two segments of at most four lower-case letters or digits each.
func typePrefix(key string) string {
	end := 0
	for range 2 {
		rest := key[end:]
		i := strings.IndexByte(rest, '-')
		if i <= 0 || i > 4 || strings.IndexFunc(rest[:i], notLowerAlnum) >= 0 {
			break
		}
		end += i + 1
	}
	return key[:end]
}

func notLowerAlnum(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }
