package body

import (
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Edits are what a body needs changed, collected while walking it and then made at once
// (Apply). Every byte an edit does not touch (key order, spacing, escapes, number spelling)
// stays as it was: the bytes are those sjson gives, edit by edit.
type Edits struct {
	list []Edit
}

// Edit is one edit: the value at Path deleted, or replaced by Raw.
type Edit struct {
	Delete bool
	Path   string
	Raw    []byte
}

// Delete asks for the value at path (an sjson path, see Loc.Path and PathKey) to be removed,
// with its key in an object.
func (es *Edits) Delete(path string) { es.list = append(es.list, Edit{Delete: true, Path: path}) }

// SetRaw asks for the value at path to be replaced by raw, which must be valid JSON.
func (es *Edits) SetRaw(path string, raw []byte) {
	es.list = append(es.list, Edit{Path: path, Raw: raw})
}

// List returns the edits asked for, in order.
func (es *Edits) List() []Edit { return es.list }

// Apply makes the edits in a copy of doc, from the last to the first, and returns the copy;
// an edit under a path an edit deletes is skipped. doc itself is never modified, and doc is
// returned as is when there is no edit. The copy is made once, whatever the number of edits
// (spliceEdit): an sjson call per edit would copy the whole body again for every edit. Edits
// are given in document order (as Walk reports nodes), so that each one's path is still right
// when it is made.
func (es *Edits) Apply(doc []byte) ([]byte, error) {
	if len(es.list) == 0 {
		return doc, nil
	}
	var deleted []string
	grow := 0 // the most the edits can lengthen the body by
	for _, e := range es.list {
		if e.Delete {
			deleted = append(deleted, e.Path)
		}
		grow += len(e.Raw)
	}
	out := make([]byte, len(doc), len(doc)+grow)
	copy(out, doc)
	for i := len(es.list) - 1; i >= 0; i-- {
		e := es.list[i]
		if Under(e.Path, deleted) {
			continue
		}
		var ok bool
		if out, ok = spliceEdit(out, e); ok {
			continue
		}
		var err error
		if e.Delete {
			out, err = sjson.DeleteBytes(out, e.Path)
		} else {
			out, err = sjson.SetRawBytes(out, e.Path, e.Raw)
		}
		if err != nil {
			return nil, fmt.Errorf("edit %s: %w", e.Path, err)
		}
	}
	return out, nil
}

// spliceEdit makes e in doc, in place, giving the bytes sjson.DeleteBytes or
// sjson.SetRawBytes would give, and reports whether it did. It takes the paths Apply nearly
// always has: parts of [A-Za-z0-9_-] (but not "-1", which sjson's delete reads as the last
// element) that all resolve. sjson looks each part up with gjson.Get in the value the
// previous part found, then replaces the last value found, or removes it with what
// deleteTailItem cuts before it or, when that is nothing, the comma after it within the
// enclosing value; spliceEdit makes the same lookups and cuts. With any other path, a part
// that does not resolve, a value gjson does not place at its index or no room to grow, it
// leaves doc as it is and returns false, and the caller has sjson make the edit.
func spliceEdit(doc []byte, e Edit) ([]byte, bool) {
	for i := 0; i < len(e.Path); i++ {
		c := e.Path[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return doc, false
		}
	}
	s := String(doc)
	lo, hi := 0, len(s) // the value the lookup is in, as sjson recurses into it
	path := e.Path
	for {
		part, rest, more := strings.Cut(path, ".")
		if part == "-1" {
			return doc, false
		}
		r := gjson.Get(s[lo:hi], part)
		if r.Index <= 0 || r.Index+len(r.Raw) > hi-lo || s[lo+r.Index:lo+r.Index+len(r.Raw)] != r.Raw {
			return doc, false
		}
		if !more {
			if len(doc)-len(r.Raw)+len(e.Raw) > cap(doc) {
				return doc, false
			}
			return splice(doc, lo+r.Index, lo+r.Index+len(r.Raw), hi, e), true
		}
		lo, hi, path = lo+r.Index, lo+r.Index+len(r.Raw), rest
	}
}

// splice replaces doc[start:end] with e.Raw, or for a delete removes it as sjson does; hi is
// the end of the enclosing value. doc must have the capacity for e.Raw.
func splice(doc []byte, start, end, hi int, e Edit) []byte {
	if e.Delete {
		head, delNextComma := deleteTailItem(doc[:start])
		if delNextComma {
			for i := end; i < hi; i++ {
				if doc[i] <= ' ' {
					continue
				}
				if doc[i] == ',' {
					end = i + 1
				}
				break
			}
		}
		n := copy(doc[len(head):], doc[end:])
		return doc[:len(head)+n]
	}
	old := doc
	doc = doc[:len(doc)-(end-start)+len(e.Raw)]
	copy(doc[start+len(e.Raw):], old[end:])
	copy(doc[start:], e.Raw)
	return doc
}

// deleteTailItem returns what stays of buf, the body before a deleted value, and whether the
// comma after the value must go instead. It follows the rules of sjson v1.2.9's delete (MIT
// licence), quirks included, so that the bytes are the ones sjson would give: scanning back,
// '[' means the value was the first of its array (the comma after it goes); ',' is cut with
// everything after it; ':' means an object member, whose key is found (see deleteKey).
func deleteTailItem(buf []byte) ([]byte, bool) {
	for i := len(buf) - 1; i >= 0; i-- {
		switch buf[i] {
		case '[':
			return buf, true
		case ',':
			return buf[:i], false
		case ':':
			return deleteKey(buf, i)
		}
	}
	return buf, false
}

// deleteKey cuts the key before buf[colon]: back to the key's closing quote, then to its
// opening quote (a quote right after a backslash is taken as escaped, and the byte before the
// backslash is not looked at, as in sjson), then to the '{' (kept; the comma after the value
// goes) or ',' (cut) before it. Without them nothing is cut.
func deleteKey(buf []byte, colon int) ([]byte, bool) {
	i := colon - 1
	for i >= 0 && buf[i] != '"' {
		i--
	}
	if i < 0 {
		return buf, false
	}
	for i--; i >= 0; i-- {
		if buf[i] != '"' {
			continue
		}
		if i > 0 && buf[i-1] == '\\' {
			i -= 2 // with the loop's i--: the scan goes on three bytes before the quote
			continue
		}
		for i--; i >= 0; i-- {
			switch buf[i] {
			case '{':
				return buf[:i+1], true
			case ',':
				return buf[:i], false
			}
		}
		return buf, false
	}
	return buf, false
}

// Under reports whether path lies strictly inside one of the deleted paths (Apply skips such
// an edit).
func Under(path string, deleted []string) bool {
	for _, p := range deleted {
		if len(path) > len(p) && path[len(p)] == '.' && path[:len(p)] == p {
			return true
		}
	}
	return false
}

// pathSpecial are the characters sjson and gjson give a meaning in paths.
const pathSpecial = `.*?|#@\!=<>%":`

// PathKey escapes an object key for use as one part of an edit path.
func PathKey(k string) string {
	if !strings.ContainsAny(k, pathSpecial) {
		return k
	}
	var b strings.Builder
	for _, r := range k {
		if strings.ContainsRune(pathSpecial, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Set returns doc with the value at path set to v, encoded as JSON (sjson.SetBytes): one
// edit, in a new copy; doc is not modified.
func Set(doc []byte, path string, v any) ([]byte, error) { return sjson.SetBytes(doc, path, v) }

// SetRaw returns doc with the value at path replaced by raw, which must be valid JSON
// (sjson.SetRawBytes).
func SetRaw(doc []byte, path string, raw []byte) ([]byte, error) {
	return sjson.SetRawBytes(doc, path, raw)
}

// Delete returns doc without the value at path (sjson.DeleteBytes).
func Delete(doc []byte, path string) ([]byte, error) { return sjson.DeleteBytes(doc, path) }

// DeleteTopLevel returns doc without any occurrence of the top-level key (a repeated key
// would otherwise survive one delete; at most 16 are removed). The key is matched literally.
func DeleteTopLevel(doc []byte, key string) ([]byte, error) {
	path := literalKey(key)
	for i := 0; i < 16 && gjson.GetBytes(doc, path).Exists(); i++ {
		var err error
		if doc, err = sjson.DeleteBytes(doc, path); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// literalKey turns an object key into a path that matches it literally: every character other
// than a letter, digit or underscore is backslash-escaped.
func literalKey(key string) string {
	var b strings.Builder
	for _, r := range key {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
