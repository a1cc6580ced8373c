package route

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ccrelay/ccrelay/relay/config"
)

func breakerRouter(clk *fakeClock, threshold int, cooldown time.Duration) *Router {
	cfg := config.Routing{CircuitBreaker: config.CircuitBreaker{FailureThreshold: threshold, Cooldown: config.Duration(cooldown)}}
	return NewRouter(cfg, cands("a:3", "b:2", "c:1"), clk.Now, nil)
}

func fail(r *Router, p string, n int) {
	for range n {
		r.Report(p, false)
	}
}

func TestBreakerOpensAfterThresholdConsecutiveFailures(t *testing.T) {
	clk := newFakeClock()
	r := breakerRouter(clk, 0, 0) // defaults: 5 failures, 30 s
	all := []string{"a", "b", "c"}
	fail(r, "a", 4)
	r.Report("a", true) // a success resets the count
	fail(r, "a", 4)
	if got := r.State("a"); got != Closed {
		t.Fatalf("after 4 consecutive failures State = %s, want closed", got)
	}
	if ok, probe := r.Allow("a"); !ok || probe {
		t.Fatalf("closed Allow = %v %v, want true false", ok, probe)
	}
	fail(r, "a", 1)
	if got := r.State("a"); got != Open {
		t.Fatalf("after 5 State = %s, want open", got)
	}
	if ok, _ := r.Allow("a"); ok {
		t.Error("open circuit allowed an attempt")
	}
	if diff := cmp.Diff([]string{"b", "c"}, r.Order("m", all, "a")); diff != "" {
		t.Errorf("Order skips the open provider, even when preferred (-want +got):\n%s", diff)
	}

	clk.Advance(30*time.Second - time.Nanosecond)
	if got := r.State("a"); got != Open {
		t.Fatalf("just before the cooldown State = %s, want open", got)
	}
	clk.Advance(time.Nanosecond)
	if got := r.State("a"); got != HalfOpen {
		t.Fatalf("after the cooldown State = %s, want half-open", got)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, r.Order("m", all, "")); diff != "" {
		t.Errorf("half-open provider is offered again (-want +got):\n%s", diff)
	}
	if ok, probe := r.Allow("a"); !ok || !probe {
		t.Fatalf("half-open Allow = %v %v, want the probe", ok, probe)
	}
	if ok, probe := r.Allow("a"); ok || probe {
		t.Fatalf("second half-open Allow = %v %v, want refused", ok, probe)
	}
	if diff := cmp.Diff([]string{"b", "c"}, r.Order("m", all, "")); diff != "" {
		t.Errorf("while probing, Order leaves the provider out (-want +got):\n%s", diff)
	}

	t.Run("a failed probe opens the circuit again for a full cooldown", func(t *testing.T) {
		r.Report("a", false)
		if got := r.State("a"); got != Open {
			t.Fatalf("State = %s, want open", got)
		}
		clk.Advance(29 * time.Second)
		if got := r.State("a"); got != Open {
			t.Fatalf("29 s later State = %s, want still open", got)
		}
		clk.Advance(time.Second)
		if ok, probe := r.Allow("a"); !ok || !probe {
			t.Fatalf("Allow = %v %v, want the next probe", ok, probe)
		}
	})
	t.Run("a successful probe closes the circuit", func(t *testing.T) {
		r.Report("a", true)
		if got := r.State("a"); got != Closed {
			t.Fatalf("State = %s, want closed", got)
		}
		for range 3 {
			if ok, probe := r.Allow("a"); !ok || probe {
				t.Fatalf("Allow = %v %v, want true false", ok, probe)
			}
		}
		fail(r, "a", 4)
		if got := r.State("a"); got != Closed {
			t.Errorf("4 failures after closing: State = %s, want closed (the count restarted)", got)
		}
	})
}

func TestAHalfOpenPreferredProviderKeepsItsPlace(t *testing.T) {
	clk := newFakeClock()
	r := breakerRouter(clk, 1, time.Second)
	fail(r, "c", 1)
	clk.Advance(time.Second)
	if diff := cmp.Diff([]string{"a", "b", "c"}, r.Order("m", []string{"a", "b", "c"}, "c")); diff != "" {
		t.Errorf("Order (-want +got):\n%s", diff)
	}
}

func TestHalfOpenLetsExactlyOneProbeThrough(t *testing.T) {
	clk := newFakeClock()
	r := breakerRouter(clk, 2, 10*time.Second)
	for round := range 5 {
		fail(r, "a", 2)
		clk.Advance(10 * time.Second)
		var allowed, probes atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 500 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r.Order("m", []string{"a", "b"}, "")
				ok, probe := r.Allow("a")
				if ok {
					allowed.Add(1)
				}
				if probe {
					probes.Add(1)
				}
				r.State("a")
			}()
		}
		close(start)
		wg.Wait()
		if allowed.Load() != 1 || probes.Load() != 1 {
			t.Fatalf("round %d: %d allowed, %d probes; want exactly one of each", round, allowed.Load(), probes.Load())
		}
		if round%2 == 0 {
			r.Report("a", false)
			clk.Advance(10 * time.Second)
		}
		r.Report("a", true)
	}
}

func TestLostProbeIsHandedOutAgain(t *testing.T) {
	clk := newFakeClock()
	r := breakerRouter(clk, 1, time.Second)
	fail(r, "a", 1)
	clk.Advance(time.Second)
	if ok, probe := r.Allow("a"); !ok || !probe {
		t.Fatal("want the probe")
	}
	clk.Advance(ProbeTimeout - time.Nanosecond)
	if ok, _ := r.Allow("a"); ok {
		t.Fatal("a second probe while the first is live")
	}
	clk.Advance(time.Nanosecond)
	if ok, probe := r.Allow("a"); !ok || !probe {
		t.Fatal("want a new probe once the first timed out")
	}
}

func TestAllOpenFallsBackToTheLeastRecentlyFailed(t *testing.T) {
	clk := newFakeClock()
	r := breakerRouter(clk, 1, time.Minute)
	fail(r, "b", 1)
	clk.Advance(time.Second)
	fail(r, "a", 1)
	clk.Advance(time.Second)
	fail(r, "c", 1)
	all := []string{"a", "b", "c"}
	if diff := cmp.Diff([]string{"b"}, r.Order("m", all, "")); diff != "" {
		t.Fatalf("Order (-want +got):\n%s", diff)
	}
	if got := r.State("b"); got != HalfOpen {
		t.Errorf("the fallback's State = %s, want half-open (cooldown waived)", got)
	}
	if ok, probe := r.Allow("b"); !ok || !probe {
		t.Fatalf("Allow(fallback) = %v %v, want the probe", ok, probe)
	}
	// b's probe is in flight: the next request falls back to a, the next least recently failed.
	if diff := cmp.Diff([]string{"a"}, r.Order("m", all, "")); diff != "" {
		t.Errorf("Order while b probes (-want +got):\n%s", diff)
	}
	if ok, probe := r.Allow("c"); ok || probe {
		t.Errorf("Allow(c) = %v %v, want refused: its cooldown was not waived", ok, probe)
	}
	r.Report("b", false)
	if got := r.State("b"); got != Open {
		t.Errorf("after the fallback probe failed State = %s, want open", got)
	}
	r.Report("a", true)
	if diff := cmp.Diff([]string{"a"}, r.Order("m", all, "")); diff != "" {
		t.Errorf("Order after a recovered (-want +got):\n%s", diff)
	}
}

func TestBreakerSnapshot(t *testing.T) {
	clk := newFakeClock()
	r := breakerRouter(clk, 2, time.Minute)
	t0 := clk.Now()
	fail(r, "a", 2)
	fail(r, "b", 1)
	clk.Advance(time.Minute)
	fail(r, "c", 2)
	r.Allow("a")
	want := []ProviderState{
		{Name: "a", State: HalfOpen, ConsecutiveFailures: 2, LastFailure: t0, Probing: true},
		{Name: "b", State: Closed, ConsecutiveFailures: 1, LastFailure: t0},
		{Name: "c", State: Open, ConsecutiveFailures: 2, LastFailure: clk.Now(), RetryAt: clk.Now().Add(time.Minute)},
	}
	if diff := cmp.Diff(want, r.Snapshot()); diff != "" {
		t.Errorf("Snapshot (-want +got):\n%s", diff)
	}
}

// TestRouterUnderConcurrency runs Order, Allow, Report, State and Snapshot from hundreds of
// goroutines for every strategy, under -race, and checks that Order always returns allowed
// providers, each once.
func TestRouterUnderConcurrency(t *testing.T) {
	for _, s := range config.Strategies {
		t.Run(s, func(t *testing.T) {
			clk := newFakeClock()
			var load atomic.Int64
			cs := cands("a:1:3", "b:2:1", "c:0:2", "d:2:0")
			for i := range cs {
				cs[i].InFlight = func() int { return int(load.Load()) % 5 }
			}
			cfg := config.Routing{Strategy: s, ModelBased: map[string][]string{"m": {"c"}}, DefaultProvider: "b",
				CircuitBreaker: config.CircuitBreaker{FailureThreshold: 3, Cooldown: config.Duration(time.Second)}}
			r := NewRouter(cfg, cs, clk.Now, nil)
			allowed := []string{"a", "b", "c", "d"}
			valid := map[string]bool{"a": true, "b": true, "c": true, "d": true}
			var wg sync.WaitGroup
			for g := range 200 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 60 {
						load.Add(1)
						order := r.Order("m-1", allowed, allowed[(g+i)%4])
						for j, p := range order {
							if !valid[p] || slices.Contains(order[:j], p) {
								t.Errorf("Order = %v", order)
								return
							}
						}
						if len(order) == 0 {
							t.Error("Order returned nothing")
							return
						}
						if ok, _ := r.Allow(order[0]); ok {
							r.Report(order[0], (g+i)%3 != 0)
						}
						if i%20 == 0 {
							clk.Advance(100 * time.Millisecond)
							r.Snapshot()
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

func TestSkippedSaysForHowLongAfterHowManyFailuresAndTheLastCause(t *testing.T) {
	clk := newFakeClock()
	r := breakerRouter(clk, 2, 30*time.Second)
	if _, skipped := r.Skipped("a"); skipped {
		t.Fatal("a closed circuit is skipped")
	}
	r.Fail("a", "unreachable at http://127.0.0.1:1 (connection refused)")
	r.Fail("a", "unreachable at http://127.0.0.1:1 (connection reset)")
	clk.Advance(5 * time.Second)
	s, skipped := r.Skipped("a")
	want := Skip{For: 25 * time.Second, Failures: 2, Cause: "unreachable at http://127.0.0.1:1 (connection reset)"}
	if !skipped || s != want {
		t.Errorf("Skipped = %+v, %v; want %+v, true", s, skipped, want)
	}
	if le := r.Snapshot()[0].LastError; le != want.Cause {
		t.Errorf("Snapshot LastError = %q, want %q", le, want.Cause)
	}
	clk.Advance(25 * time.Second) // half-open: the probe is free, so nothing is skipped
	if _, skipped := r.Skipped("a"); skipped {
		t.Error("a half-open circuit with its probe free is skipped")
	}
	r.Allow("a")
	if s, skipped := r.Skipped("a"); !skipped || s.For != 0 {
		t.Errorf("with its probe in flight: Skipped = %+v, %v; want skipped with For 0", s, skipped)
	}
	r.Report("a", true)
	if le := r.Snapshot()[0].LastError; le != "" {
		t.Errorf("a closed circuit still shows LastError %q", le)
	}
}

func TestAdoptKeepsOpenCircuitsOfTheProvidersBothKnow(t *testing.T) {
	clk := newFakeClock()
	old := breakerRouter(clk, 2, 30*time.Second)
	old.Fail("a", "unreachable")
	old.Fail("a", "unreachable")
	old.Fail("b", "unreachable")
	clk.Advance(10 * time.Second)
	cfg := config.Routing{CircuitBreaker: config.CircuitBreaker{FailureThreshold: 2, Cooldown: config.Duration(30 * time.Second)}}
	r := NewRouter(cfg, cands("a:3", "b:2", "d:1"), clk.Now, nil)
	r.Adopt(old)
	if s, skipped := r.Skipped("a"); !skipped || s.For != 20*time.Second || s.Cause != "unreachable" {
		t.Errorf("a after the reload: %+v, %v; want skipped for 20s more", s, skipped)
	}
	r.Fail("b", "unreachable") // b's count goes on: 2 failures open it
	if got := r.State("b"); got != Open {
		t.Errorf("b = %s, want open (its first failure was carried over)", got)
	}
	if got := r.State("d"); got != Closed {
		t.Errorf("the new provider d = %s, want closed", got)
	}
}
