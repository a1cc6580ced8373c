package body

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ccrelay/ccrelay/scripts/bench/session"
)

// benchFixture is the ~49 KB Claude Code request of a tool round trip, the first turn the long
// sessions grow from.
const benchFixture = trafficDir + "/claude-code/claude-code-2.1.332__02-tool-roundtrip-req1.messages.json"

var (
	sizesOnce sync.Once
	sized     map[string][]byte
	sizedErr  error
)

// sizedBodies are Claude Code bodies of a long session (scripts/bench/session), by size label:
// the first turn (49k), 250k and 1m.
func sizedBodies(b *testing.B) map[string][]byte {
	b.Helper()
	sizesOnce.Do(func() {
		rec, err := session.LoadRecord(benchFixture)
		if err != nil {
			sizedErr = err
			return
		}
		sized = map[string][]byte{}
		for _, label := range session.DefaultSizes {
			target, err := session.ParseSize(label)
			if err != nil {
				sizedErr = err
				return
			}
			body, _, err := session.Generate(rec.Body, target, session.DefaultSeed)
			if err != nil {
				sizedErr = fmt.Errorf("%s: %w", label, err)
				return
			}
			sized[label] = body
		}
	})
	if sizedErr != nil {
		b.Fatalf("long-session bodies: %v", sizedErr)
	}
	return sized
}

// BenchmarkParse is the inspection every request pays: validation of the whole body and the
// top-level facts. MB/s is its cost per MB of body.
func BenchmarkParse(b *testing.B) {
	bodies := sizedBodies(b)
	for _, label := range session.DefaultSizes {
		body := bodies[label]
		b.Run(label, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if !Parse(body).Top().Valid {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// BenchmarkParseNested is the inspection plus the walk of every nested node, what a request
// pays when a candidate's matrix row acts on nested features.
func BenchmarkParseNested(b *testing.B) {
	bodies := sizedBodies(b)
	for _, label := range session.DefaultSizes {
		body := bodies[label]
		b.Run(label, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				_ = Parse(body).Nested()
			}
		})
	}
}
