package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one finding of loading or validation, located by file, line and key path.
type Problem struct {
	// File is the configuration file, or "" when the configuration did not come from a file.
	File string
	// Line is the 1-based line of the key in File, or 0 when it is unknown.
	Line int
	// Path is the key path, such as providers[1].keys[0].rpm_limit, or "" for the whole file.
	Path string
	// Msg says what is wrong and, where possible, how to fix it.
	Msg string
}

// String formats the problem as "file:line: path: msg", leaving out the parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is the error of loading or validating a configuration. It holds every problem found,
// not only the first.
type Error struct {
	Problems []Problem
}

// Error formats the problems one per line as "file:line: path: msg".
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by line, keeping the order of problems on the same line and
// putting problems without a line last.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		li, lj := ps[i].Line, ps[j].Line
		if (li == 0) != (lj == 0) {
			return lj == 0
		}
		return li < lj
	})
}
