package config

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// decoder fills a Config from a tree, strictly: every unknown key, wrong type and unset
// environment variable becomes a problem with its file, line and key path.
type decoder struct {
	file   string
	toml   bool
	lookup func(string) (string, bool)

	problems []Problem
	// unset holds "environment variable is not set" problems apart, because they are dropped
	// for disabled providers, which is known only once the whole provider is decoded.
	unset    []Problem
	warnings []Problem
	// lines maps every key path seen in the file to its line.
	lines map[string]int
	// failed holds the paths that had a decoding problem, so that validation does not report
	// them a second time.
	failed []string
}

// durationType is decoded from a duration string, not from an integer.
var durationType = reflect.TypeOf(Duration(0))

// expiryType is decoded from a date or date-time string (or a TOML date), not as a struct.
var expiryType = reflect.TypeOf(Expiry{})

// bareKeyRE matches map keys that a path can show without quotes.
var bareKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// joinKey appends a map key to a key path: a.b for plain keys, a["x.y"] otherwise.
func joinKey(parent, key string) string {
	if !bareKeyRE.MatchString(key) {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// joinIndex appends a list index to a key path.
func joinIndex(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// lineOf returns the line of path, or of its closest ancestor that has one.
func (d *decoder) lineOf(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

// problem records a decoding problem at path.
func (d *decoder) problem(line int, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
	d.failed = append(d.failed, path)
}

// wrongType records a type problem.
func (d *decoder) wrongType(n *node, path, want string) {
	msg := fmt.Sprintf("want %s, got %s", want, n.describe())
	if want == "a list" && n.kind == kindMap {
		if d.toml {
			msg += fmt.Sprintf(" (in TOML, start each entry with a [[%s]] header)", strings.ReplaceAll(patternOf(path), "[]", ""))
		} else {
			msg += " (in YAML, start each entry with \"- \")"
		}
	}
	line := n.line
	if l, ok := d.lines[path]; ok {
		line = l // the key's line, where a block value starts below it
	}
	d.problem(line, path, "%s", msg)
}

// decode fills v from n. It reports whether v was set.
func (d *decoder) decode(n *node, v reflect.Value, path string) bool {
	if path != "" {
		if _, ok := d.lines[path]; !ok {
			d.lines[path] = n.line
		}
	}
	if n.isNull() {
		return false
	}
	t := v.Type()
	if t == durationType {
		const want = "a duration such as \"30s\" or \"2m\""
		if n.kind == kindScalar && (n.scalar == scalarInt || n.scalar == scalarFloat) {
			d.wrongType(n, path, want) // a bare number has no unit
			return false
		}
		s, ok := d.str(n, path, want)
		if !ok {
			return false
		}
		dur, err := ParseDuration(s)
		if err != nil {
			d.problem(n.line, path, "%s", err.Error())
			return false
		}
		v.SetInt(int64(dur))
		return true
	}
	if t == expiryType {
		return d.expiry(n, v, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if d.decode(n, p.Elem(), path) {
			v.Set(p)
			return true
		}
		return false
	case reflect.Struct:
		return d.structValue(n, v, path)
	case reflect.Map:
		return d.mapValue(n, v, path)
	case reflect.Slice:
		if n.kind != kindList {
			d.wrongType(n, path, "a list")
			return false
		}
		s := reflect.MakeSlice(t, len(n.items), len(n.items))
		for i, item := range n.items {
			d.decode(item, s.Index(i), joinIndex(path, i))
		}
		v.Set(s)
		return true
	case reflect.String:
		s, ok := d.str(n, path, "a string")
		if ok {
			v.SetString(s)
		}
		return ok
	case reflect.Bool:
		if n.kind != kindScalar || n.scalar != scalarBool {
			d.wrongType(n, path, "true or false")
			return false
		}
		v.SetBool(n.b)
		return true
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, ok := d.integer(n, path)
		if ok && v.OverflowInt(i) {
			d.problem(n.line, path, "integer %d is out of range", i)
			ok = false
		}
		if ok {
			v.SetInt(i)
		}
		return ok
	case reflect.Float64:
		if n.kind != kindScalar || n.scalar != scalarInt && n.scalar != scalarFloat ||
			n.scalar == scalarInt && n.badInt {
			d.wrongType(n, path, "a number")
			return false
		}
		f := n.f
		if n.scalar == scalarInt {
			f = float64(n.i)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			d.problem(n.line, path, "want a positive number, got %s", n.text)
			return false
		}
		v.SetFloat(f)
		return true
	}
	d.problem(n.line, path, "cannot decode into %s", t)
	return false
}

// expiry reads a client key's expires: a string, a YAML timestamp or a TOML date or
// date-time (a TOML local date-time, without an offset, is refused by ParseExpiry).
func (d *decoder) expiry(n *node, v reflect.Value, path string) bool {
	const want = "a date such as \"2026-12-31\" or a date and time such as \"2026-12-31T18:00:00Z\""
	var s string
	if n.kind == kindScalar && n.scalar == scalarTime {
		s = n.text
	} else {
		var ok bool
		if s, ok = d.str(n, path, want); !ok {
			return false
		}
	}
	e, err := ParseExpiry(s)
	if err != nil {
		d.problem(n.line, path, "%s", err.Error())
		return false
	}
	v.Set(reflect.ValueOf(e))
	return true
}

// integer reads an integer; a number with no fractional part (1e5) is accepted.
func (d *decoder) integer(n *node, path string) (int64, bool) {
	if n.kind == kindScalar {
		switch n.scalar {
		case scalarInt:
			if n.badInt {
				d.problem(n.line, path, "integer %s is out of range", n.text)
				return 0, false
			}
			return n.i, true
		case scalarFloat:
			if n.f == math.Trunc(n.f) && math.Abs(n.f) < 1<<62 {
				return int64(n.f), true
			}
			if n.f == math.Trunc(n.f) && !math.IsInf(n.f, 0) {
				d.problem(n.line, path, "integer %s is out of range", n.text)
				return 0, false
			}
		}
	}
	d.wrongType(n, path, "an integer")
	return 0, false
}

// str reads a string and expands ${VAR} in it. A YAML plain scalar that YAML typed as a number
// or a date (2024-06-01) is taken as written.
func (d *decoder) str(n *node, path, want string) (string, bool) {
	if n.kind != kindScalar {
		d.wrongType(n, path, want)
		return "", false
	}
	switch {
	case n.scalar == scalarString:
	case n.implicit && (n.scalar == scalarInt || n.scalar == scalarFloat || n.scalar == scalarTime):
		return n.text, true
	default:
		d.wrongType(n, path, want)
		return "", false
	}
	out, unset, err := expand(n.text, d.lookup)
	if err != nil {
		d.problem(n.line, path, "%s", err.Error())
		return n.text, false
	}
	for _, name := range unset {
		d.unset = append(d.unset, Problem{File: d.file, Line: n.line, Path: path,
			Msg: fmt.Sprintf("environment variable %s is not set", name)})
	}
	return out, true
}

// structValue fills a struct from a map node, rejecting unknown and duplicate keys.
func (d *decoder) structValue(n *node, v reflect.Value, path string) bool {
	if n.kind != kindMap {
		d.wrongType(n, path, "a map")
		return false
	}
	fields := fieldsOf(v.Type())
	seen := map[string]int{}
	for _, f := range n.fields {
		p := joinKey(path, f.key)
		if first, dup := seen[f.key]; dup {
			d.problem(f.line, p, "duplicate key %q (first set on line %d)", f.key, first)
			continue
		}
		seen[f.key] = f.line
		idx, ok := fields.index[f.key]
		if !ok {
			d.problem(f.line, p, "%s", d.unknownKey(f.key, path, fields.names))
			continue
		}
		d.lines[p] = f.line
		d.decode(f.value, v.Field(idx), p)
	}
	return true
}

// mapValue fills a map with string keys from a map node, rejecting duplicate keys.
func (d *decoder) mapValue(n *node, v reflect.Value, path string) bool {
	if n.kind != kindMap {
		d.wrongType(n, path, "a map")
		return false
	}
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.problem(n.line, path, "cannot decode into %s", t)
		return false
	}
	m := reflect.MakeMapWithSize(t, len(n.fields))
	seen := map[string]int{}
	for _, f := range n.fields {
		p := joinKey(path, f.key)
		if first, dup := seen[f.key]; dup {
			d.problem(f.line, p, "duplicate key %q (first set on line %d)", f.key, first)
			continue
		}
		seen[f.key] = f.line
		d.lines[p] = f.line
		elem := reflect.New(t.Elem()).Elem()
		d.decode(f.value, elem, p)
		m.SetMapIndex(reflect.ValueOf(f.key).Convert(t.Key()), elem)
	}
	v.Set(m)
	return true
}

// structFields is the key table of a struct type.
type structFields struct {
	index map[string]int // key → field index
	names []string       // keys in field order
}

// fieldsOf returns the keys of a struct type, from its yaml tags.
func fieldsOf(t reflect.Type) structFields {
	sf := structFields{index: map[string]int{}}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		sf.index[name] = i
		sf.names = append(sf.names, name)
	}
	return sf
}

// schemaPaths lists every key of the schema with its path pattern (providers[].keys[].key),
// to tell a user where a key that is unknown at one level belongs.
var schemaPaths = func() map[string][]string {
	out := map[string][]string{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		sf := fieldsOf(t)
		for _, name := range sf.names {
			ft := t.Field(sf.index[name]).Type
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			out[name] = append(out[name], p)
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft.Kind() == reflect.Struct && ft != durationType:
				walk(ft, p)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), p+"[]")
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return out
}()

// unknownKey words the problem of an unknown key at parent, with the closest known key.
func (d *decoder) unknownKey(key, parent string, known []string) string {
	msg := fmt.Sprintf("unknown key %q", key)
	if best := closest(key, known); best != "" {
		return msg + fmt.Sprintf("; did you mean %q?", best)
	}
	level := patternOf(parent)
	if d.toml && strings.HasSuffix(level, "keys[]") {
		for _, p := range schemaPaths[key] {
			if p == strings.TrimSuffix(level, "keys[]")+key {
				return msg + fmt.Sprintf("; %q is a provider key, and TOML put it inside [[providers.keys]]: move the line above the first [[providers.keys]] table", key)
			}
		}
	}
	if elsewhere := schemaPaths[key]; len(elsewhere) > 0 {
		return msg + fmt.Sprintf(" here; it belongs at %s (check the indentation or the table header)", strings.Join(elsewhere, " or "))
	}
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	return msg + "; known keys here: " + strings.Join(sorted, ", ")
}

// indexRE matches list indexes in a key path.
var indexRE = regexp.MustCompile(`\[\d+\]`)

// patternOf turns providers[1].keys[0] into providers[].keys[].
func patternOf(path string) string { return indexRE.ReplaceAllString(path, "[]") }

// closest returns the known key nearest to key, or "" when none is close enough to be a typo.
func closest(key string, known []string) string {
	best, bestDist := "", math.MaxInt
	lower := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	for _, k := range known {
		if lower == k {
			return k
		}
		if dist := levenshtein(lower, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	limit := 1
	switch n := len([]rune(key)); {
	case n >= 9:
		limit = 3
	case n >= 5:
		limit = 2
	}
	if bestDist <= limit {
		return best
	}
	return ""
}

// levenshtein returns the edit distance between a and b.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// fixTOMLModels handles the TOML quirk of the documentation: "models = [...]" written after
// [[providers.keys]] or [providers.model_mapping] lands inside that table. The list is moved to
// the provider, with a warning that says how to fix the file.
func (d *decoder) fixTOMLModels(root *node) {
	providers := root.get("providers")
	if providers == nil || providers.kind != kindList {
		return
	}
	for i, p := range providers.items {
		if p.kind != kindMap {
			continue
		}
		ppath := joinIndex("providers", i)
		if keys := p.get("keys"); keys != nil && keys.kind == kindList {
			for j, k := range keys.items {
				d.moveModels(p, k, joinIndex(ppath+".keys", j), "[[providers.keys]]")
			}
		}
		d.moveModels(p, p.get("model_mapping"), ppath+".model_mapping", "[providers.model_mapping]")
	}
}

// moveModels moves a "models" list from the table inner to the provider p.
func (d *decoder) moveModels(p, inner *node, innerPath, table string) {
	m := inner.get("models")
	if m == nil || m.kind != kindList {
		return
	}
	path := innerPath + ".models"
	line := m.line
	for _, f := range inner.fields {
		if f.key == "models" {
			line = f.line
		}
	}
	inner.remove("models")
	if prev := p.get("models"); prev != nil {
		d.problem(line, path, "TOML put \"models\" inside %s, and the provider already has models (line %d): keep one models = [...] line, above the first [[providers.keys]] (or [providers.model_mapping]) table", table, prev.line)
		return
	}
	p.fields = append(p.fields, field{key: "models", line: line, value: m})
	d.warnings = append(d.warnings, Problem{File: d.file, Line: line, Path: path,
		Msg: fmt.Sprintf("TOML put \"models\" inside %s; it was used as the provider's models list. Fix: move the models = [...] line above the first [[providers.keys]] (or [providers.model_mapping]) table.", table)})
}
