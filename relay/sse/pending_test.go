package sse

import (
	"io"
	"testing"
)

// chunks is a reader that returns one chunk per Read, like a network connection.
type chunks struct{ parts []string }

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	c.parts[0] = c.parts[0][n:]
	if c.parts[0] == "" {
		c.parts = c.parts[1:]
	}
	return n, nil
}

func TestPendingSaysWhetherAnotherEventIsAlreadyRead(t *testing.T) {
	r := NewReader(&chunks{parts: []string{
		"event: a\ndata: 1\n\nevent: b\ndata: 2\n\nevent: c\nda", // two whole events and a part
		"ta: 3\n\n",
		"event: d\r\ndata: 4\r\n\r\nevent: e\r\ndata: 5\r\n\r\n",
	}})
	want := []struct {
		name    string
		pending bool
	}{{"a", true}, {"b", false}, {"c", false}, {"d", true}, {"e", false}}
	for _, w := range want {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if ev.Name != w.name || r.Pending() != w.pending {
			t.Errorf("after %q: Pending() = %v, want %v", ev.Name, r.Pending(), w.pending)
		}
	}
}
