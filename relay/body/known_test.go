package body

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/relaytest/claudecode"

	"github.com/tidwall/gjson"
)

// TestKnownToolsAreSkippedOnlyWhenIdentical: a tools array Parse has validated is
// skipped the next time, and only when every byte is the same: a changed array is validated
// again, an invalid one is refused, and what follows the array is still validated.
func TestKnownToolsAreSkippedOnlyWhenIdentical(t *testing.T) {
	r := claudecode.Requests(t)[0]
	for _, c := range claudecode.Requests(t) {
		if len(gjson.GetBytes(c.Compact, "tools").Raw) > len(gjson.GetBytes(r.Compact, "tools").Raw) {
			r = c
		}
	}
	body := r.Compact
	tools := gjson.GetBytes(body, "tools")
	if len(tools.Raw) < knownMin {
		t.Fatalf("the largest Claude Code tools array has %d bytes, under knownMin", len(tools.Raw))
	}
	if !Parse(body).Top().Valid {
		t.Fatal("the Claude Code request is not valid")
	}
	if knownArray(body[tools.Index:]) != len(tools.Raw) {
		t.Fatal("the tools array was not remembered")
	}
	edit := func(at int, b byte) []byte {
		c := bytes.Clone(body)
		c[at] = b
		return c
	}
	// The last ':' inside the tools array: ';' makes the array invalid, and the array no
	// longer matches the remembered bytes.
	colon := tools.Index + strings.LastIndex(tools.Raw, ":")
	if Parse(edit(colon, ';')).Top().Valid {
		t.Errorf("a tools array with ';' for ':' was judged valid")
	}
	// Garbage right after the remembered array.
	end := tools.Index + len(tools.Raw)
	if Parse(edit(end, ' ')[:end+1]).Top().Valid {
		t.Errorf("a body cut right after the tools array was judged valid")
	}
	if Parse(edit(end, ']')).Top().Valid {
		t.Errorf("a ']' after the tools array was judged valid")
	}
	// A different, valid array is validated again, and remembered.
	changed := bytes.Replace(body, []byte(`"description"`), []byte(`"descriptioN"`), 1)
	if !Parse(changed).Top().Valid {
		t.Errorf("a changed tools array was judged invalid")
	}
	ct := gjson.GetBytes(changed, "tools")
	if knownArray(changed[ct.Index:]) != len(ct.Raw) {
		t.Errorf("the changed tools array was not remembered")
	}
}
