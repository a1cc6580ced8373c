// Package usagelog writes the usage log: one JSON line per finished request, with its tokens,
// its cost in USD (relay/pricing) and how it went, for `ccrelay usage` and for anyone's jq.
//
// A Log is a relay.Observer. Observe copies what the line needs into a buffer, under a mutex
// held for the copy alone, and does not wake anyone: a full buffer drops the line (counted,
// and logged once a second), never the request. One goroutine takes the buffered lines every
// second (sooner when the buffer is half full), prices them, encodes them and writes them, so
// a crash loses at most the last second. Waking a writer for each request would cost more than
// the rest of the log put together (BenchmarkUsageLog). Reopen closes and
// opens the file again (for log rotation: move the file, then send SIGHUP to serve). A write
// error is logged, and the lines fail until a Reopen succeeds.
package usagelog

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/pricing"
)

// Line is one line of the usage log, one finished request.
type Line struct {
	Time       time.Time `json:"time"` // when the request arrived, UTC
	RequestID  string    `json:"request_id"`
	UpstreamID string    `json:"upstream_request_id,omitempty"`
	Session    string    `json:"session,omitempty"` // Claude Code's session id
	Path       string    `json:"path,omitempty"`    // /v1/messages or /v1/messages/count_tokens
	Provider   string    `json:"provider,omitempty"`
	// Model is the model the client asked for; UpstreamModel the one the provider was asked for.
	Model         string `json:"model,omitempty"`
	UpstreamModel string `json:"upstream_model,omitempty"`
	// Scenario is the routing.scenarios scenario that routed the request.
	Scenario string `json:"scenario,omitempty"`
	// Client is the name of the client key the request came with (server.auth.keys).
	Client string `json:"client,omitempty"`
	Stream bool   `json:"stream"`
	Status int    `json:"status"`
	// The token counts are the usage the provider reported (Anthropic's: input excludes the
	// cache reads and writes).
	Input         int `json:"input_tokens"`
	Output        int `json:"output_tokens"`
	CacheRead     int `json:"cache_read_tokens"`
	CacheCreation int `json:"cache_creation_tokens"`
	// CostUSD is the price of those tokens; Unpriced marks a model no price was found for (it
	// then costs 0).
	CostUSD  float64 `json:"cost_usd"`
	Unpriced bool    `json:"unpriced,omitempty"`
	// Attempts counts the upstream attempts (providers skipped without one are not counted).
	Attempts int      `json:"attempts"`
	Degraded []string `json:"degraded,omitempty"`
	// TTFBMs is the time to the first byte sent to the client, DurationMs to the end, in
	// milliseconds.
	TTFBMs     float64 `json:"ttfb_ms"`
	DurationMs float64 `json:"duration_ms"`
}

// Defaults of Options.
const (
	DefaultBuffer     = 4096
	DefaultFlushEvery = time.Second
)

// Options configures Open. Book or Prices is required.
type Options struct {
	// Book prices the lines by provider.
	Book *pricing.Book
	// Prices, when set, is asked for the book of each line instead (a reloaded configuration
	// may bring other providers and prices). It is called by the writer goroutine only.
	Prices func() *pricing.Book
	// Logger receives write errors and dropped-line counts; nil discards.
	Logger *slog.Logger
	// Buffer is how many lines may wait for the writer; DefaultBuffer when 0. The writer takes
	// them every FlushEvery, or when half of the buffer is used.
	Buffer int
	// FlushEvery bounds how long a written line may stay in memory; DefaultFlushEvery when 0.
	FlushEvery time.Duration
}

// Log is the usage log of one file.
type Log struct {
	path   string
	book   *pricing.Book
	prices func() *pricing.Book
	log    *slog.Logger
	every  time.Duration

	mu      sync.Mutex
	pending []Line // the lines observed and not yet taken by the writer
	max     int    // Buffer
	kick    chan struct{}
	reopen  chan chan error
	quit    chan struct{}
	done    chan struct{}
	closed  atomic.Bool
	dropped atomic.Int64
	once    sync.Once

	// Owned by the writer goroutine.
	f     *os.File
	w     *bufio.Writer
	buf   []byte // one encoded line
	spare []Line // the buffer the next drain gives the observers
	err   error  // the last write error, reported by Close
}

// Open opens (creating it, 0600) the usage log at path, appending, and starts its writer.
func Open(path string, opts Options) (*Log, error) {
	if opts.Book == nil && opts.Prices == nil {
		return nil, errors.New("usagelog: no price book")
	}
	l := &Log{
		path: path, book: opts.Book, prices: opts.Prices, log: opts.Logger, every: opts.FlushEvery,
		reopen: make(chan chan error), quit: make(chan struct{}), done: make(chan struct{}),
	}
	if l.every <= 0 {
		l.every = DefaultFlushEvery
	}
	n := opts.Buffer
	if n <= 0 {
		n = DefaultBuffer
	}
	l.max, l.kick = n, make(chan struct{}, 1) // the buffers grow to what the load needs
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if err := l.open(); err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

// open opens the file and sets up the buffer and the encoder on it.
func (l *Log) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("usage log: %w", err)
	}
	l.f, l.w = f, bufio.NewWriterSize(f, 64<<10)
	return nil
}

// skipped are the attempt outcomes of providers that were passed over without an attempt.
var skipped = map[string]bool{"circuit_open": true, "keys_unavailable": true, "count_tokens_unsupported": true}

// Observe queues the line of rec. It never blocks: when the buffer is full the line is
// dropped and counted.
func (l *Log) Observe(rec *relay.Record) {
	line := Line{
		Time: rec.Time.UTC(), RequestID: rec.ID, UpstreamID: rec.UpstreamID, Session: rec.Session, Client: rec.Client, Path: rec.Path,
		Provider: rec.Provider, Model: rec.Model, UpstreamModel: rec.UpstreamModel, Scenario: rec.Scenario, Stream: rec.Stream, Status: rec.Status,
		Input: rec.Tokens.Input, Output: rec.Tokens.Output, CacheRead: rec.Tokens.CacheRead, CacheCreation: rec.Tokens.CacheCreation,
		TTFBMs: ms(rec.TTFB), DurationMs: ms(rec.Duration),
	}
	for _, a := range rec.Attempts {
		if !skipped[a.Outcome] {
			line.Attempts++
		}
	}
	if len(rec.Degraded) > 0 {
		line.Degraded = append([]string(nil), rec.Degraded...)
	}
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		return
	}
	if len(l.pending) >= l.max {
		l.mu.Unlock()
		l.dropped.Add(1)
		return
	}
	l.pending = append(l.pending, line)
	half := len(l.pending) == l.max/2+1
	l.mu.Unlock()
	if half {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Dropped is how many lines were dropped because the buffer was full.
func (l *Log) Dropped() int64 { return l.dropped.Load() }

// Reopen writes the lines queued so far, flushes and closes the file, then opens the file at
// the same path again: after a rotation moved it away, a new file starts there.
func (l *Log) Reopen() error {
	if l.closed.Load() {
		return errors.New("usage log: closed")
	}
	reply := make(chan error, 1)
	select {
	case l.reopen <- reply:
		return <-reply
	case <-l.done:
		return errors.New("usage log: closed")
	}
}

// Close writes the lines queued so far, flushes and closes the file. It returns the last
// write error, if any. Lines observed after Close are not written.
func (l *Log) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed.Store(true)
		l.mu.Unlock()
		close(l.quit)
	})
	<-l.done
	return l.err
}

// run is the writer.
func (l *Log) run() {
	defer close(l.done)
	tick := time.NewTicker(l.every)
	defer tick.Stop()
	var reported int64
	for {
		select {
		case <-l.kick:
			l.drain()
		case <-tick.C:
			l.drain()
			l.flush()
			if n := l.dropped.Load(); n > reported {
				l.log.Warn("usage log: lines dropped, the writer could not keep up", slog.Int64("dropped", n-reported), slog.Int64("total", n))
				reported = n
			}
		case reply := <-l.reopen:
			// The lines observed before the rotation belong to the old file.
			l.drain()
			l.flush()
			var err error
			if l.f != nil {
				err = l.f.Close()
			}
			if oerr := l.open(); oerr != nil {
				// Without a file, the lines fail (logged) until a reopen works.
				l.f, l.w = nil, bufio.NewWriter(failWriter{oerr})
				err = oerr
			} else {
				l.err = nil
			}
			reply <- err
		case <-l.quit:
			l.drain()
			l.flush()
			if l.f != nil {
				if err := l.f.Close(); err != nil && l.err == nil {
					l.err = err
				}
			}
			return
		}
	}
}

// drain writes the lines observed so far. The writer's batch and the observers' buffer swap
// places: neither allocates again.
func (l *Log) drain() {
	l.mu.Lock()
	batch := l.pending
	l.pending = l.spare[:0]
	l.mu.Unlock()
	for i := range batch {
		l.write(&batch[i])
		batch[i] = Line{} // no strings kept alive
	}
	l.spare = batch[:0]
}

// write prices and encodes one line.
func (l *Log) write(line *Line) {
	t := pricing.Tokens{Input: line.Input, Output: line.Output, CacheRead: line.CacheRead, CacheCreation: line.CacheCreation}
	b := l.book
	if l.prices != nil {
		b = l.prices()
	}
	cost, known := b.Cost(line.Provider, line.UpstreamModel, t)
	line.CostUSD, line.Unpriced = cost, !known
	l.buf = appendLine(l.buf[:0], line)
	if _, err := l.w.Write(l.buf); err != nil {
		l.fail(err)
	}
}

// flush writes the buffer to the file.
func (l *Log) flush() {
	if l.w.Buffered() == 0 {
		return
	}
	if err := l.w.Flush(); err != nil {
		l.fail(err)
	}
}

// fail records and logs a write error, once per distinct error.
func (l *Log) fail(err error) {
	if l.err == nil || l.err.Error() != err.Error() {
		l.log.Error("usage log: write failed", slog.String("path", l.path), slog.String("error", err.Error()))
	}
	l.err = err
}

// failWriter fails every write, with the error that left the log without a file.
type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }
