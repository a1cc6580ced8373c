package main

import (
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/relaytest"
)

func TestLogLinesAreFlushedWithinTheIntervalAndOnClose(t *testing.T) {
	var out relaytest.LogBuffer
	b := newLogBuffer(&out, 20*time.Millisecond)
	b.Write([]byte("one\n"))
	deadline := time.Now().Add(2 * time.Second)
	for out.String() != "one\n" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if out.String() != "one\n" {
		t.Fatalf("line not flushed: %q", out.String())
	}
	b.Write([]byte("two\n"))
	b.Close()
	if out.String() != "one\ntwo\n" {
		t.Errorf("Close did not flush: %q", out.String())
	}
	b.Write([]byte("three\n")) // a line written after Close goes straight through
	if out.String() != "one\ntwo\nthree\n" {
		t.Errorf("a line written after Close was not written: %q", out.String())
	}
}
