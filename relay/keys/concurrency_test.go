package keys

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
)

// TestConcurrentLeaseRelease has hundreds of goroutines lease and release keys with every kind
// of outcome, rejections and the probes that follow them included, while the clock moves,
// under -race. In-flight counts must stay consistent and end
// at zero, and no key may be handed out past its rpm bucket.
func TestConcurrentLeaseRelease(t *testing.T) {
	for _, strategy := range config.KeyStrategies {
		t.Run(strategy, func(t *testing.T) {
			clk := newFakeClock()
			keys := []config.Key{
				{Key: "a", RPMLimit: 400, TPMLimit: 400_000, Priority: 2, Weight: 3},
				{Key: "b", RPMLimit: 400, Priority: 2},
				{Key: "c", TPMLimit: 100_000, Priority: 1},
				{Key: "d"},
			}
			p := NewPool("p", keys, strategy, clk.Now, WithKeyRetry(5*time.Second))
			var leased [4]atomic.Int64
			var unavailable atomic.Int64
			var wg sync.WaitGroup
			for g := range 300 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 7))
					for range 50 {
						if rng.IntN(25) == 0 {
							clk.Advance(time.Duration(rng.IntN(3000)) * time.Millisecond)
						}
						l, err := p.Lease(rng.IntN(2000))
						if err != nil {
							unavailable.Add(1)
							continue
						}
						leased[l.Index()].Add(1)
						o := Outcome{Status: 200, Usage: rng.IntN(3000)}
						switch rng.IntN(200) {
						case 0:
							o = Outcome{Status: 429, Header: http.Header{"Retry-After": {"1"}}, Usage: -1}
						case 1:
							o = Outcome{Err: fmt.Errorf("dial: refused"), Usage: -1}
						case 2:
							o = Outcome{Status: 401, Usage: -1}
						case 3:
							o = Outcome{Status: 429, Usage: -1, Rejected: true}
						}
						if rng.IntN(10) == 0 {
							if snap := p.Snapshot(); snap[l.Index()].InFlight < 1 {
								t.Errorf("key %d leased but %d in flight", l.Index(), snap[l.Index()].InFlight)
							}
						}
						l.Release(o)
					}
				}()
			}
			wg.Wait()
			if n := p.InFlight(); n != 0 {
				t.Errorf("InFlight = %d after all releases, want 0", n)
			}
			var total int64
			for i, s := range p.Snapshot() {
				if s.InFlight != 0 {
					t.Errorf("key %d: %d in flight, want 0", i, s.InFlight)
				}
				total += leased[i].Load()
			}
			if total+unavailable.Load() != 300*50 {
				t.Errorf("%d leased + %d unavailable, want %d", total, unavailable.Load(), 300*50)
			}
			elapsed := clk.Now().Sub(newFakeClock().Now())
			for i, k := range keys[:2] {
				if limit := float64(k.RPMLimit) * (1 + elapsed.Minutes()); float64(leased[i].Load()) > limit+1e-6 {
					t.Errorf("key %d leased %d times in %v, rpm %d allows %.0f", i, leased[i].Load(), elapsed, k.RPMLimit, limit)
				}
			}
		})
	}
}

func BenchmarkLeaseRelease(b *testing.B) {
	now := time.Unix(0, 0)
	p := NewPool("p", []config.Key{
		{Key: "a", RPMLimit: 1 << 30, TPMLimit: 1 << 30, Priority: 1},
		{Key: "b", RPMLimit: 1 << 30, TPMLimit: 1 << 30, Priority: 1},
		{Key: "c", RPMLimit: 1 << 30, TPMLimit: 1 << 30},
	}, config.KeyStrategyRoundRobin, func() time.Time {
		// A clock that moves a second per reading keeps the buckets refilling however many
		// millions of iterations run: the benchmark measures leasing, not exhaustion.
		now = now.Add(time.Second)
		return now
	})
	o := Outcome{Status: 200, Usage: 1200}
	b.ReportAllocs()
	for b.Loop() {
		l, err := p.Lease(1000)
		if err != nil {
			b.Fatal(err)
		}
		l.Release(o)
	}
}

func BenchmarkLeaseParallel(b *testing.B) {
	var clock atomic.Int64
	p := NewPool("p", []config.Key{
		{Key: "a", RPMLimit: 1 << 30, TPMLimit: 1 << 30, Priority: 1},
		{Key: "b", RPMLimit: 1 << 30, TPMLimit: 1 << 30, Priority: 1},
		{Key: "c", RPMLimit: 1 << 30, TPMLimit: 1 << 30},
	}, config.KeyStrategyLeastLoaded, func() time.Time {
		// A second per reading, safe across goroutines: the buckets keep refilling.
		return time.Unix(clock.Add(1), 0)
	})
	o := Outcome{Status: 200, Usage: 1200}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l, err := p.Lease(1000)
			if err != nil {
				b.Error(err)
				return
			}
			l.Release(o)
		}
	})
}
