package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// nodeKind says whether a node is a map, a list or a scalar.
type nodeKind int

const (
	kindScalar nodeKind = iota
	kindMap
	kindList
)

// scalarKind is the type of a scalar as the file's format resolved it.
type scalarKind int

const (
	scalarNull scalarKind = iota
	scalarString
	scalarInt
	scalarFloat
	scalarBool
	scalarTime
)

// node is one value of a decoded file, in a form shared by YAML and TOML, so that one strict
// walker fills the configuration and words every message the same way for both formats.
type node struct {
	kind nodeKind
	line int

	fields []field // kindMap, in file order
	items  []*node // kindList

	scalar scalarKind
	text   string // the scalar as written (strings unquoted)
	i      int64
	f      float64
	b      bool
	// implicit marks a YAML plain scalar whose type YAML guessed (60, 2024-06-01); a string
	// field accepts its text, as it was probably meant as a string.
	implicit bool
	// badInt marks an integer literal that does not fit in 64 bits.
	badInt bool
}

// field is one key of a map node.
type field struct {
	key   string
	line  int
	value *node
}

// get returns the value of key in a map node, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != kindMap {
		return nil
	}
	for _, f := range n.fields {
		if f.key == key {
			return f.value
		}
	}
	return nil
}

// remove deletes key from a map node.
func (n *node) remove(key string) {
	out := n.fields[:0]
	for _, f := range n.fields {
		if f.key != key {
			out = append(out, f)
		}
	}
	n.fields = out
}

// isNull reports whether the node is an absent value (YAML null or an empty YAML value).
func (n *node) isNull() bool { return n.kind == kindScalar && n.scalar == scalarNull }

// describe words the node for a "got ..." message.
func (n *node) describe() string {
	switch n.kind {
	case kindMap:
		return "a map"
	case kindList:
		return "a list"
	}
	switch n.scalar {
	case scalarString:
		s := n.text
		if r := []rune(s); len(r) > 40 {
			s = string(r[:40]) + "…"
		}
		return "string " + strconv.Quote(s)
	case scalarInt:
		return "integer " + n.text
	case scalarFloat:
		return "number " + n.text
	case scalarBool:
		return "boolean " + n.text
	case scalarTime:
		return "date " + n.text
	}
	return "null"
}

// yamlLineRE finds the line in a yaml.v3 syntax error message.
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses data into a tree. Syntax errors come back as problems.
func parseYAML(data []byte, file string) (*node, []Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &node{kind: kindMap, line: 1}, nil
		}
		return nil, []Problem{yamlProblem(file, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, []Problem{{File: file, Line: extra.Line, Msg: "a configuration file holds one YAML document; remove the second \"---\" document"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, []Problem{yamlProblem(file, err)}
	}
	c := yamlConverter{file: file}
	root := c.convert(&doc, 0)
	if root.isNull() {
		root = &node{kind: kindMap, line: 1}
	}
	return root, c.problems
}

// yamlProblem turns a yaml.v3 syntax error into a problem with a line.
func yamlProblem(file string, err error) Problem {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return Problem{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// yamlConverter turns yaml.v3 nodes into tree nodes.
type yamlConverter struct {
	file     string
	problems []Problem
}

// maxAliasDepth bounds alias expansion, so that a hostile file cannot make the loader loop.
const maxAliasDepth = 64

// convert turns a yaml.v3 node into a tree node; depth counts followed aliases.
func (c *yamlConverter) convert(y *yaml.Node, depth int) *node {
	if depth > maxAliasDepth {
		c.problems = append(c.problems, Problem{File: c.file, Line: y.Line, Msg: "YAML aliases nest too deeply"})
		return &node{line: y.Line}
	}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return &node{line: y.Line}
		}
		return c.convert(y.Content[0], depth)
	case yaml.AliasNode:
		n := c.convert(y.Alias, depth+1)
		cp := *n
		cp.line = y.Line
		return &cp
	case yaml.SequenceNode:
		n := &node{kind: kindList, line: y.Line}
		for _, item := range y.Content {
			n.items = append(n.items, c.convert(item, depth))
		}
		return n
	case yaml.MappingNode:
		return c.mapping(y, depth)
	}
	return c.scalar(y)
}

// mapping converts a YAML mapping, applying merge keys (<<) after the explicit keys so that
// explicit keys win.
func (c *yamlConverter) mapping(y *yaml.Node, depth int) *node {
	n := &node{kind: kindMap, line: y.Line}
	var merged []field
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			c.problems = append(c.problems, Problem{File: c.file, Line: k.Line, Msg: "a map key must be a plain string"})
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, c.merge(v, depth)...)
			continue
		}
		n.fields = append(n.fields, field{key: k.Value, line: k.Line, value: c.convert(v, depth)})
	}
	for _, f := range merged {
		if n.get(f.key) == nil {
			n.fields = append(n.fields, f)
		}
	}
	return n
}

// merge returns the fields that a merge key brings in.
func (c *yamlConverter) merge(v *yaml.Node, depth int) []field {
	src := c.convert(v, depth+1)
	switch src.kind {
	case kindMap:
		return src.fields
	case kindList:
		var out []field
		for _, item := range src.items {
			if item.kind == kindMap {
				out = append(out, item.fields...)
			}
		}
		return out
	}
	c.problems = append(c.problems, Problem{File: c.file, Line: v.Line, Msg: "a YAML merge key (<<) needs a map or a list of maps"})
	return nil
}

// scalar converts a YAML scalar with the type YAML resolved for it.
func (c *yamlConverter) scalar(y *yaml.Node) *node {
	n := &node{line: y.Line, text: y.Value, implicit: y.Style == 0}
	switch y.ShortTag() {
	case "!!null":
		n.scalar = scalarNull
	case "!!int":
		n.scalar = scalarInt
		if err := y.Decode(&n.i); err != nil {
			n.badInt = true
		}
	case "!!float":
		n.scalar = scalarFloat
		if err := y.Decode(&n.f); err != nil {
			c.problems = append(c.problems, Problem{File: c.file, Line: y.Line, Msg: fmt.Sprintf("invalid number %q", y.Value)})
		}
	case "!!bool":
		n.scalar = scalarBool
		if err := y.Decode(&n.b); err != nil {
			c.problems = append(c.problems, Problem{File: c.file, Line: y.Line, Msg: fmt.Sprintf("invalid boolean %q", y.Value)})
		}
	case "!!timestamp":
		n.scalar = scalarTime
	default:
		n.scalar = scalarString
		n.implicit = false
	}
	return n
}
