package session

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
)

// gen produces the exchanges of a session: tasks of a grep, reads, edits, a test run (with,
// sometimes, a failure, a fix and a second run), and a summary after which the user asks for
// the next task.
type gen struct {
	r     *rand.Rand
	queue []*exchange
	files map[string][]string // what Read returned, so that Edit changes real lines
	order []string            // files in the order they were first read
	tasks int
}

func newGen(r *rand.Rand) *gen {
	return &gen{r: r, files: map[string][]string{}}
}

// next returns the next exchange of the session.
func (g *gen) next() *exchange {
	for len(g.queue) == 0 {
		g.task()
	}
	ex := g.queue[0]
	g.queue = g.queue[1:]
	return ex
}

const root = "/home/dev/ccrelay"

func (g *gen) ex(text string, tools ...toolCall) *exchange {
	return &exchange{signature: signature(g.r), text: text, tools: tools}
}

func (g *gen) push(ex *exchange, results ...result) {
	ex.user.results = results
	g.queue = append(g.queue, ex)
}

func (g *gen) task() {
	r := g.r
	g.tasks++
	if g.tasks == 1 {
		// The recorded first turn asks to run a command (and the recorded second request is
		// exactly this tool round trip, without the thinking block).
		ex := g.ex("I will use the Bash tool.", toolCall{toolID(r), "Bash", bashInput{"echo TOOL-RAN-OK", "Run the requested command"}})
		g.push(ex, result{id: ex.tools[0].id, content: "TOOL-RAN-OK"})
		g.finish("The command ran and printed `TOOL-RAN-OK`.")
		return
	}
	pkg := pick(r, packages)
	noun := pick(r, nouns)

	// Find the code.
	pattern := fmt.Sprintf("func .*%s%s", title(pick(r, verbs)), title(noun))
	ex := g.ex(fmt.Sprintf("Let me find where the %s %s is handled.", noun, pick(r, nouns)),
		toolCall{toolID(r), "Grep", grepInput{Pattern: pattern, Path: root + "/" + pkg, OutputMode: "content"}})
	g.push(ex, result{id: ex.tools[0].id, content: grepOutput(r, pkg, 4+r.IntN(30))})

	// Read one to three files at once.
	n := 1 + r.IntN(3)
	var calls []toolCall
	var results []result
	var read []string
	for range n {
		path := fmt.Sprintf("%s/%s/%s.go", root, pkg, pick(r, nouns)+pick(r, []string{"", "", "_test", "s", "_internal"}))
		lines, ok := g.files[path]
		if !ok {
			lines = goFile(r, pkg, 60+r.IntN(420))
			g.files[path] = lines
			g.order = append(g.order, path)
		}
		in := readInput{FilePath: path}
		from, to := 0, len(lines)
		if len(lines) > 300 && r.IntN(3) == 0 {
			from = r.IntN(len(lines) - 200)
			to = from + 200
			in.Offset, in.Limit = from+1, 200
		}
		id := toolID(r)
		calls = append(calls, toolCall{id, "Read", in})
		results = append(results, result{id: id, content: numbered(lines[from:to], from+1)})
		read = append(read, path)
	}
	text := "Let me read the file."
	if n > 1 {
		text = "Let me read these files."
	}
	ex = g.ex(text, calls...)
	g.push(ex, results...)

	// Edit.
	for k := range 1 + r.IntN(3) {
		g.edit(pick(r, read), k == 0)
	}

	// Test, fix, test again.
	failing := r.IntN(3) == 0
	g.test(pkg, failing)
	if failing {
		g.edit(pick(r, read), false)
		g.test(pkg, false)
	}
	if r.IntN(3) == 0 {
		ex = g.ex("", toolCall{toolID(r), "Bash", bashInput{"git diff --stat && git status --short", "Show what changed"}})
		g.push(ex, result{id: ex.tools[0].id, content: gitOutput(r, read)})
	}
	g.finish(fmt.Sprintf("Done: the %s now %s the %s before it %s, and the tests of `%s` pass.",
		noun, pick(r, verbs), pick(r, nouns), pick(r, verbs), pkg))
}

// finish ends a task: the assistant sums up (no tool), the user asks for the next one.
func (g *gen) finish(summary string) {
	ex := g.ex(summary)
	ex.user.prompt = prompt(g.r)
	g.queue = append(g.queue, ex)
}

func (g *gen) edit(path string, explain bool) {
	r := g.r
	lines := g.files[path]
	at := r.IntN(len(lines))
	n := 1 + r.IntN(min(6, len(lines)-at))
	old := strings.Join(lines[at:at+n], "\n")
	repl := make([]string, 0, n+2)
	for _, l := range lines[at : at+n] {
		repl = append(repl, mutate(r, l))
	}
	if r.IntN(2) == 0 {
		repl = append(repl, block(r)...)
	}
	lines = append(append(append([]string{}, lines[:at]...), repl...), lines[at+n:]...)
	g.files[path] = lines
	text := ""
	if explain {
		text = fmt.Sprintf("This must not %s the %s before the %s is checked. I'll fix that.", pick(r, verbs), pick(r, nouns), pick(r, nouns))
	}
	ex := g.ex(text, toolCall{toolID(r), "Edit", editInput{FilePath: path, OldString: old, NewString: strings.Join(repl, "\n")}})
	from := max(0, at-5)
	to := min(len(lines), at+len(repl)+5)
	g.push(ex, result{id: ex.tools[0].id, content: fmt.Sprintf("The file %s has been updated. Here's the result of running `cat -n` on a snippet of the edited file:\n%s",
		path, numbered(lines[from:to], from+1))})
}

func (g *gen) test(pkg string, failing bool) {
	r := g.r
	cmd := fmt.Sprintf("go test ./%s/... 2>&1 | tail -40", pkg)
	ex := g.ex(pick(r, []string{"Now the tests.", "", "Let me run the tests."}), toolCall{toolID(r), "Bash", bashInput{cmd, "Run the " + pkg + " tests"}})
	var b strings.Builder
	if failing {
		b.WriteString("Exit code 1\n")
	}
	for range 3 + r.IntN(25) {
		b.WriteString(testLine(r))
		b.WriteByte('\n')
	}
	if failing {
		t := "Test" + title(pick(r, nouns)) + title(pick(r, verbs))
		fmt.Fprintf(&b, "--- FAIL: %s (0.%02ds)\n    %s_test.go:%d: got %q, want %q\nFAIL\nFAIL\tgithub.com/ccrelay/ccrelay/%s\t0.%03ds\nFAIL",
			t, r.IntN(100), pick(r, nouns), 10+r.IntN(300), pick(r, nouns), pick(r, nouns), pkg, r.IntN(1000))
	} else {
		fmt.Fprintf(&b, "ok  \tgithub.com/ccrelay/ccrelay/%s\t%d.%03ds", pkg, r.IntN(3), r.IntN(1000))
	}
	g.push(ex, result{id: ex.tools[0].id, content: b.String(), isError: failing})
}

// lastExchange is the exchange that ends every generated body: the whole test suite, whose
// output is cut to fill the body to its target size.
func lastExchange(r *rand.Rand) *exchange {
	ex := &exchange{r: r, signature: signature(r), text: "Let me run the whole test suite once more.",
		tools: []toolCall{{toolID(r), "Bash", bashInput{"go test ./... 2>&1", "Run all tests"}}}}
	ex.user.results = []result{{id: ex.tools[0].id}}
	return ex
}

// ---------------------------------------------------------------- content

// signature is shaped like Anthropic's thinking signatures: standard base64 of a protobuf-like
// blob (it starts with "E"), several hundred bytes.
func signature(r *rand.Rand) string {
	n := 300 + r.IntN(900)
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[0] = 0x12
	return base64.StdEncoding.EncodeToString(b)
}

const idChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// toolID is shaped like Anthropic's tool_use ids: toolu_01 and 22 base-62 characters.
func toolID(r *rand.Rand) string {
	b := []byte("toolu_01")
	for range 22 {
		b = append(b, idChars[r.IntN(len(idChars))])
	}
	return string(b)
}

// numbered renders lines as Claude Code's Read tool returns them: the line number right-aligned
// in six columns, an arrow, the line.
func numbered(lines []string, first int) string {
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%6d→%s", first+i, l)
	}
	return b.String()
}

func grepOutput(r *rand.Rand, pkg string, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s/%s/%s.go:%d:%s", root, pkg, pick(r, nouns), 10+r.IntN(600), block(r)[0])
	}
	return b.String()
}

func gitOutput(r *rand.Rand, files []string) string {
	var b strings.Builder
	total := 0
	for _, f := range files {
		n := 1 + r.IntN(30)
		total += n
		fmt.Fprintf(&b, " %s | %d %s\n", strings.TrimPrefix(f, root+"/"), n, strings.Repeat("+", min(n, 20)))
	}
	fmt.Fprintf(&b, " %d files changed, %d insertions(+), %d deletions(-)\n", len(files), total, r.IntN(total+1))
	for _, f := range files {
		fmt.Fprintf(&b, " M %s\n", strings.TrimPrefix(f, root+"/"))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// goFile generates a Go source file of about n lines: package clause, imports, a type and
// functions made of ordinary statements (string literals with quotes and escapes, tabs).
func goFile(r *rand.Rand, pkg string, n int) []string {
	p := pkg[strings.LastIndexByte(pkg, '/')+1:]
	lines := []string{"package " + p, "", "import ("}
	for _, imp := range []string{"context", "errors", "fmt", "net/http", "strings", "time"} {
		if r.IntN(3) > 0 {
			lines = append(lines, "\t\""+imp+"\"")
		}
	}
	lines = append(lines, ")", "")
	typ := title(pick(r, nouns)) + title(pick(r, nouns))
	lines = append(lines, fmt.Sprintf("// %s holds the %s of one %s.", typ, pick(r, nouns), pick(r, nouns)), "type "+typ+" struct {")
	for range 2 + r.IntN(6) {
		lines = append(lines, fmt.Sprintf("\t%s %s", pick(r, nouns), pick(r, goTypes)))
	}
	lines = append(lines, "}", "")
	for len(lines) < n {
		name := pick(r, verbs) + title(pick(r, nouns))
		lines = append(lines,
			fmt.Sprintf("// %s %ss the %s of the %s and reports whether it %s.", name, pick(r, verbs), pick(r, nouns), pick(r, nouns), pick(r, verbs)),
			fmt.Sprintf("func (x *%s) %s(ctx context.Context, %s string) (%s, error) {", typ, name, pick(r, nouns), pick(r, goTypes)))
		for range 3 + r.IntN(14) {
			lines = append(lines, block(r)...)
		}
		lines = append(lines, "\treturn "+pick(r, []string{"nil, nil", "x." + pick(r, nouns) + ", nil", "0, errors.New(\"" + pick(r, nouns) + " not found\")"}), "}", "")
	}
	return lines
}

// block is one statement of a function body, as lines.
func block(r *rand.Rand) []string {
	return strings.Split("\t"+statement(r, 1), "\n")
}

// statement is one line of Go at the given depth of indentation (tabs after the first).
func statement(r *rand.Rand, depth int) string {
	a, b, c := pick(r, nouns), pick(r, nouns), pick(r, verbs)
	ind := strings.Repeat("\t", depth-1)
	switch r.IntN(9) {
	case 0:
		return fmt.Sprintf("%sif %s == \"\" {\n%s\t\treturn nil, fmt.Errorf(\"%s: empty %s %%q\\n\", %s)\n%s\t}", ind, a, ind, c, b, a, ind)
	case 1:
		return fmt.Sprintf("%s%s := strings.TrimSpace(x.%s)", ind, a, b)
	case 2:
		return fmt.Sprintf("%sfor i, %s := range x.%ss {\n%s\t\tif %s.%s(ctx) && i > 0 {\n%s\t\t\tbreak\n%s\t\t}\n%s\t}", ind, a, b, ind, a, c, ind, ind, ind)
	case 3:
		return fmt.Sprintf("%sdefer x.%s.Close() // %s the %s before the %s", ind, a, c, b, pick(r, nouns))
	case 4:
		return fmt.Sprintf("%sctx, cancel := context.WithTimeout(ctx, %d*time.Second)\n%s\tdefer cancel()", ind, 1+r.IntN(30), ind)
	case 5:
		return fmt.Sprintf("%sx.%s = append(x.%s, %s{name: \"%s\", limit: %d})", ind, a, a, title(b), c, r.IntN(4096))
	case 6:
		return fmt.Sprintf("%sif err := x.%s(ctx, %s); err != nil {\n%s\t\treturn nil, fmt.Errorf(\"%s %s: %%w\", err)\n%s\t}", ind, c, a, ind, c, b, ind)
	case 7:
		return fmt.Sprintf("%sw.Header().Set(\"X-%s-%s\", strconv.Itoa(len(%s)))", ind, title(a), title(b), a)
	default:
		return fmt.Sprintf("%s// The %s must be %s before the %s: see %s_test.go.", ind, a, c, b, pick(r, nouns))
	}
}

// mutate is an edited version of a line.
func mutate(r *rand.Rand, l string) string {
	switch {
	case strings.Contains(l, "=="):
		return strings.Replace(l, "==", "!=", 1)
	case strings.Contains(l, "return nil"):
		return strings.Replace(l, "return nil", "return x."+pick(r, nouns), 1)
	case strings.HasPrefix(strings.TrimSpace(l), "//"):
		return l + " (" + pick(r, verbs) + " first)"
	}
	return l + " // " + pick(r, verbs) + " the " + pick(r, nouns)
}

func prompt(r *rand.Rand) string {
	return fmt.Sprintf(pick(r, prompts), pick(r, nouns), pick(r, verbs), pick(r, nouns))
}

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

var (
	packages = []string{"relay", "relay/features", "relay/sse", "relay/config", "relay/keys", "relay/route", "relay/provider", "conformance", "cmd/ccrelay"}
	nouns    = []string{"request", "provider", "key", "body", "header", "event", "delta", "model", "limit", "pool", "attempt",
		"buffer", "token", "usage", "decision", "route", "config", "matrix", "signature", "block", "message", "timeout", "breaker", "account"}
	verbs   = []string{"check", "parse", "retry", "flush", "release", "validate", "strip", "rewrite", "count", "select", "drain", "forward", "reject", "refresh"}
	goTypes = []string{"string", "int", "[]byte", "time.Duration", "map[string]int", "*http.Request", "[]string", "bool", "error"}
	prompts = []string{
		"The %s is still wrong when the %s fails. Can you %s it?",
		"Now make the %s %s the %s before it is sent.",
		"Add a test that shows the %s does not %s the %s twice.",
		"Why does the %s %s the %s here? Fix it if it is a bug.",
		"Please rename the %s to something clearer and %s every %s that uses it.",
		"Look at the %s again: it should %s the %s only once.",
	}
)
