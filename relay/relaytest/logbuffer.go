package relaytest

import (
	"bytes"
	"sync"
)

// LogBuffer is a log sink that several goroutines may write while a test reads it (a relay's
// logger, a store's probe, a usage log's writer). The zero LogBuffer is ready to use.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
