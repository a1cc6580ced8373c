package config

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// parseTOML parses data into a tree. BurntSushi/toml decodes the values; tomlLines finds the line
// of every key, which the library does not expose. Syntax errors come back as problems.
func parseTOML(data []byte, file string) (*node, []Problem) {
	var m map[string]any
	if _, err := toml.Decode(string(data), &m); err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return nil, []Problem{{File: file, Line: perr.Position.Line, Msg: "invalid TOML: " + perr.Message}}
		}
		return nil, []Problem{{File: file, Msg: "invalid TOML: " + err.Error()}}
	}
	lines := tomlLines(data)
	root := tomlNode(m, "", 1, lines)
	return root, nil
}

// tomlNode converts a decoded TOML value at path into a tree node.
func tomlNode(v any, path string, line int, lines map[string]int) *node {
	if l, ok := lines[path]; ok {
		line = l
	}
	switch v := v.(type) {
	case map[string]any:
		n := &node{kind: kindMap, line: line}
		for k, val := range v {
			p := joinKey(path, k)
			child := tomlNode(val, p, line, lines)
			n.fields = append(n.fields, field{key: k, line: child.line, value: child})
		}
		sort.Slice(n.fields, func(i, j int) bool {
			if n.fields[i].line != n.fields[j].line {
				return n.fields[i].line < n.fields[j].line
			}
			return n.fields[i].key < n.fields[j].key
		})
		return n
	case []map[string]any:
		n := &node{kind: kindList, line: line}
		for i, item := range v {
			n.items = append(n.items, tomlNode(item, joinIndex(path, i), line, lines))
		}
		return n
	case []any:
		n := &node{kind: kindList, line: line}
		for i, item := range v {
			n.items = append(n.items, tomlNode(item, joinIndex(path, i), line, lines))
		}
		return n
	case string:
		return &node{line: line, scalar: scalarString, text: v}
	case int64:
		return &node{line: line, scalar: scalarInt, i: v, text: strconv.FormatInt(v, 10)}
	case float64:
		n := &node{line: line, scalar: scalarFloat, f: v, text: strconv.FormatFloat(v, 'g', -1, 64)}
		if math.IsInf(v, 0) || math.IsNaN(v) {
			n.text = fmt.Sprint(v)
		}
		return n
	case bool:
		return &node{line: line, scalar: scalarBool, b: v, text: strconv.FormatBool(v)}
	case time.Time:
		// TOML's local dates and date-times have no offset: keep them as written.
		text := v.Format(time.RFC3339Nano)
		switch v.Location().String() {
		case "date-local":
			text = v.Format(time.DateOnly)
		case "datetime-local":
			text = v.Format("2006-01-02T15:04:05.999999999")
		}
		return &node{line: line, scalar: scalarTime, text: text}
	}
	return &node{line: line, scalar: scalarString, text: fmt.Sprint(v)}
}

// tomlLines maps the key path of every key, table and array element of a TOML document to its
// line. It runs only on documents that BurntSushi/toml accepted, so it is lenient: it follows
// table headers, dotted and quoted keys, arrays, inline tables and multi-line strings, and
// gives up quietly on anything else (the walker then falls back to the parent's line).
func tomlLines(src []byte) map[string]int {
	s := &tomlScanner{src: src, line: 1, lines: map[string]int{}, arrays: map[string]int{}}
	s.document()
	return s.lines
}

// tomlScanner is the state of tomlLines.
type tomlScanner struct {
	src    []byte
	pos    int
	line   int
	lines  map[string]int
	arrays map[string]int // array-of-tables path → number of elements so far
	table  string         // path of the current table
}

// peek returns the byte off bytes ahead, or 0 at the end.
func (s *tomlScanner) peek(off int) byte {
	if s.pos+off < len(s.src) {
		return s.src[s.pos+off]
	}
	return 0
}

// eof reports whether the whole source was read.
func (s *tomlScanner) eof() bool { return s.pos >= len(s.src) }

// advance moves one byte on, counting lines.
func (s *tomlScanner) advance() {
	if s.src[s.pos] == '\n' {
		s.line++
	}
	s.pos++
}

// skipSpace skips blanks, and newlines and comments when nl is true.
func (s *tomlScanner) skipSpace(nl bool) {
	for !s.eof() {
		switch c := s.peek(0); {
		case c == ' ' || c == '\t' || c == '\r':
			s.pos++
		case c == '\n' && nl:
			s.advance()
		case c == '#' && nl:
			s.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to the newline that ends the current line.
func (s *tomlScanner) skipLine() {
	for !s.eof() && s.peek(0) != '\n' {
		s.pos++
	}
}

// set records the first line seen for path.
func (s *tomlScanner) set(path string, line int) {
	if _, ok := s.lines[path]; !ok {
		s.lines[path] = line
	}
}

// document reads the whole source, one header or key/value line at a time.
func (s *tomlScanner) document() {
	for {
		s.skipSpace(true)
		if s.eof() {
			return
		}
		start := s.pos
		if s.peek(0) == '[' {
			s.header()
		} else {
			s.keyValue(s.table)
		}
		s.skipLine()
		if s.pos == start && !s.eof() {
			s.advance() // never loop on input the scanner does not understand
		}
	}
}

// header reads a [table] or [[array]] header and makes it the current table.
func (s *tomlScanner) header() {
	array := s.peek(1) == '['
	if array {
		s.pos += 2
	} else {
		s.pos++
	}
	keys := s.keyParts()
	s.skipSpace(false)
	if array && s.peek(0) == ']' && s.peek(1) == ']' {
		s.pos += 2
	} else if s.peek(0) == ']' {
		s.pos++
	}
	path := ""
	for i, k := range keys {
		path = joinKey(path, k)
		last := i == len(keys)-1
		if last && array {
			n := s.arrays[path]
			s.arrays[path] = n + 1
			s.set(path, s.line)
			path = joinIndex(path, n)
			break
		}
		if n, ok := s.arrays[path]; ok {
			path = joinIndex(path, n-1)
		}
	}
	s.set(path, s.line)
	s.table = path
}

// keyValue reads key = value under the table at base.
func (s *tomlScanner) keyValue(base string) {
	line := s.line
	keys := s.keyParts()
	if len(keys) == 0 {
		return
	}
	path := base
	for _, k := range keys {
		path = joinKey(path, k)
		s.set(path, line)
	}
	s.skipSpace(false)
	if s.peek(0) != '=' {
		return
	}
	s.pos++
	s.skipSpace(false)
	s.value(path)
}

// keyParts reads a possibly dotted key.
func (s *tomlScanner) keyParts() []string {
	var parts []string
	for {
		s.skipSpace(false)
		if s.eof() {
			return parts
		}
		switch c := s.peek(0); {
		case c == '"':
			start := s.pos
			s.basicString()
			raw := string(s.src[start:s.pos])
			if u, err := strconv.Unquote(raw); err == nil {
				parts = append(parts, u)
			} else {
				parts = append(parts, strings.Trim(raw, `"`))
			}
		case c == '\'':
			s.pos++
			start := s.pos
			for !s.eof() && s.peek(0) != '\'' && s.peek(0) != '\n' {
				s.pos++
			}
			parts = append(parts, string(s.src[start:s.pos]))
			if s.peek(0) == '\'' {
				s.pos++
			}
		case isBareKeyByte(c):
			start := s.pos
			for !s.eof() && isBareKeyByte(s.peek(0)) {
				s.pos++
			}
			parts = append(parts, string(s.src[start:s.pos]))
		default:
			return parts
		}
		s.skipSpace(false)
		if s.peek(0) != '.' {
			return parts
		}
		s.pos++
	}
}

// isBareKeyByte reports whether c may appear in a bare TOML key.
func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// value reads one value at path, recording the lines of nested keys and elements.
func (s *tomlScanner) value(path string) {
	switch {
	case s.hasPrefix(`"""`):
		s.multiline(`"""`, true)
	case s.hasPrefix(`'''`):
		s.multiline(`'''`, false)
	case s.peek(0) == '"':
		s.basicString()
	case s.peek(0) == '\'':
		s.pos++
		for !s.eof() && s.peek(0) != '\'' && s.peek(0) != '\n' {
			s.pos++
		}
		if s.peek(0) == '\'' {
			s.pos++
		}
	case s.peek(0) == '[':
		s.pos++
		for i := 0; ; i++ {
			s.skipSpace(true)
			if s.eof() || s.peek(0) == ']' {
				break
			}
			start := s.pos
			p := joinIndex(path, i)
			s.set(p, s.line)
			s.value(p)
			s.skipSpace(true)
			if s.peek(0) == ',' {
				s.pos++
			} else if s.pos == start {
				break
			}
		}
		if s.peek(0) == ']' {
			s.pos++
		}
	case s.peek(0) == '{':
		s.pos++
		for {
			s.skipSpace(true)
			if s.eof() || s.peek(0) == '}' {
				break
			}
			start := s.pos
			s.keyValue(path)
			s.skipSpace(true)
			if s.peek(0) == ',' {
				s.pos++
			} else if s.pos == start {
				break
			}
		}
		if s.peek(0) == '}' {
			s.pos++
		}
	default:
		for !s.eof() {
			switch s.peek(0) {
			case ',', ']', '}', '\n', '#':
				return
			}
			s.pos++
		}
	}
}

// hasPrefix reports whether the source continues with p.
func (s *tomlScanner) hasPrefix(p string) bool {
	return strings.HasPrefix(string(s.src[s.pos:min(len(s.src), s.pos+len(p))]), p)
}

// basicString skips a "..." string, escapes included.
func (s *tomlScanner) basicString() {
	s.pos++
	for !s.eof() {
		switch s.peek(0) {
		case '\\':
			s.pos += 2
			continue
		case '"':
			s.pos++
			return
		case '\n':
			return
		}
		s.pos++
	}
	s.pos = min(s.pos, len(s.src))
}

// multiline skips a multi-line string delimited by delim.
func (s *tomlScanner) multiline(delim string, escapes bool) {
	s.pos += len(delim)
	for !s.eof() {
		if escapes && s.peek(0) == '\\' {
			s.advance()
			if !s.eof() {
				s.advance()
			}
			continue
		}
		if s.hasPrefix(delim) {
			s.pos += len(delim)
			for s.peek(0) == delim[0] { // up to two quotes may close the content
				s.pos++
			}
			return
		}
		s.advance()
	}
}
