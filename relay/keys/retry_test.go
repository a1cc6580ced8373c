package keys

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ccrelay/ccrelay/relay/config"
)

// rejectKey leases the only usable key of p and releases it with o, failing unless the key
// was disabled.
func rejectKey(t *testing.T, p *Pool, o Outcome) Verdict {
	t.Helper()
	v := mustLease(t, p, 0).Release(o)
	if !v.Disabled {
		t.Fatalf("verdict %+v after %+v, want Disabled", v, o)
	}
	return v
}

func TestRejectionsDisableTheKeyUntilItsRetry(t *testing.T) {
	tests := []struct {
		name    string
		outcome Outcome
		reason  string
	}{
		{"a 401 disables the key", Outcome{Status: 401, Usage: -1}, "disabled after upstream 401 Unauthorized"},
		{"a 403 disables the key", Outcome{Status: 403, Usage: -1}, "disabled after upstream 403 Forbidden"},
		{"a 429 marked rejected disables the key instead of cooling it",
			Outcome{Status: 429, Header: http.Header{"Retry-After": {"5"}}, Usage: -1, Rejected: true},
			"disabled after upstream 429 Too Many Requests: the provider rejected the key"},
		{"a 402 marked rejected disables the key", Outcome{Status: 402, Usage: -1, Rejected: true},
			"disabled after upstream 402 Payment Required: the provider rejected the key"},
		{"a rejection without a status disables the key", Outcome{Usage: -1, Rejected: true},
			"disabled after the provider rejected the key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			p := NewPool("p", []config.Key{{Key: "k"}}, "", clk.Now)
			v := rejectKey(t, p, tc.outcome)
			if diff := cmp.Diff(Verdict{Disabled: true, RetryIn: time.Minute}, v); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			clk.Advance(59 * time.Second)
			u := unavailable(t, p, 0)
			want := &Unavailable{Provider: "p", RetryAfter: time.Second, Rejected: true,
				Reason: "all keys rejected by the provider; next probe in 1s"}
			if diff := cmp.Diff(want, u); diff != "" {
				t.Errorf("Unavailable before the retry (-want +got):\n%s", diff)
			}
			if got := p.Snapshot()[0].Reason; got != tc.reason {
				t.Errorf("Snapshot reason %q, want %q", got, tc.reason)
			}
			clk.Advance(time.Second)
			mustLease(t, p, 0) // the probe
		})
	}
}

func TestExactlyOneConcurrentLeaseProbesARejectedKey(t *testing.T) {
	tests := []struct {
		name     string
		keys     []config.Key
		strategy string
	}{
		{"one key, round robin", []config.Key{{Key: "k"}}, config.KeyStrategyRoundRobin},
		{"one key, least loaded", []config.Key{{Key: "k"}}, config.KeyStrategyLeastLoaded},
		{"two rejected keys of different priorities, weighted", []config.Key{{Key: "a", Priority: 1}, {Key: "b"}}, config.KeyStrategyWeighted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			p := NewPool("p", tc.keys, tc.strategy, clk.Now)
			for range tc.keys {
				rejectKey(t, p, Outcome{Status: 401, Usage: -1})
			}
			clk.Advance(time.Minute)
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				probes []*Lease
				errs   int
			)
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l, err := p.Lease(0)
					mu.Lock()
					defer mu.Unlock()
					var u *Unavailable
					switch {
					case err == nil:
						probes = append(probes, l)
					case errors.As(err, &u) && u.Rejected:
						errs++
					default:
						t.Errorf("Lease: %v, want a probe or a rejected Unavailable", err)
					}
				}()
			}
			wg.Wait()
			if len(probes) != len(tc.keys) || errs != 64-len(tc.keys) {
				t.Fatalf("%d probes and %d refusals, want one probe per key (%d)", len(probes), errs, len(tc.keys))
			}
			seen := map[int]bool{}
			for _, l := range probes {
				seen[l.Index()] = true
			}
			if len(seen) != len(tc.keys) {
				t.Errorf("probed keys %v, want each key once", seen)
			}
			u := unavailable(t, p, 0)
			if u.RetryAfter != 0 || u.Reason != "all keys rejected by the provider; a probe is in flight" {
				t.Errorf("Unavailable while probing = %+v, want no retry and a probe in flight", u)
			}
			for _, l := range probes {
				if v := l.Release(ok200); !v.Reenabled {
					t.Errorf("probe verdict %+v, want Reenabled", v)
				}
			}
			for _, s := range p.Snapshot() {
				if s.Disabled || !s.Available || s.DisabledUntil != nil {
					t.Errorf("after the probes, key %d = %+v, want enabled and available", s.Index, s)
				}
			}
		})
	}
}

func TestAProbeOutcomeDecidesTheKeysFate(t *testing.T) {
	tests := []struct {
		name    string
		outcome Outcome
		verdict Verdict
		// enabled: the key is back in rotation; otherwise probeNext says whether the next lease
		// may probe it at once (true) or must wait retryIn (false).
		enabled   bool
		probeNext bool
		retryIn   time.Duration
	}{
		{"a 200 re-enables the key", Outcome{Status: 200, Usage: 10}, Verdict{Reenabled: true}, true, false, 0},
		{"a 400 re-enables the key: the provider accepted it", Outcome{Status: 400, Usage: -1}, Verdict{Reenabled: true}, true, false, 0},
		{"a plain 429 re-enables the key and cools it down", Outcome{Status: 429, Header: http.Header{"Retry-After": {"3"}}, Usage: -1},
			Verdict{Reenabled: true, CooledFor: 3 * time.Second}, true, false, 0},
		{"a 401 disables the key for twice as long", Outcome{Status: 401, Usage: -1},
			Verdict{Disabled: true, RetryIn: 2 * time.Minute}, false, false, 2 * time.Minute},
		{"a 429 marked rejected disables the key for twice as long without cooling it", Outcome{Status: 429, Header: http.Header{"Retry-After": {"3"}}, Usage: -1, Rejected: true},
			Verdict{Disabled: true, RetryIn: 2 * time.Minute}, false, false, 2 * time.Minute},
		{"a transport error leaves the key to the next probe", Outcome{Err: errors.New("dial: refused"), Usage: -1}, Verdict{}, false, true, 0},
		{"a lease given back unused leaves the key to the next probe", Outcome{Status: 0, Usage: 0}, Verdict{}, false, true, 0},
		{"a 503 leaves the key to the next probe", Outcome{Status: 503, Usage: -1}, Verdict{}, false, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			p := NewPool("p", []config.Key{{Key: "k"}}, "", clk.Now)
			rejectKey(t, p, Outcome{Status: 401, Usage: -1})
			clk.Advance(time.Minute)
			probe := mustLease(t, p, 0)
			if diff := cmp.Diff(tc.verdict, probe.Release(tc.outcome)); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			s := p.Snapshot()[0]
			switch {
			case tc.enabled:
				if s.Disabled || s.DisabledUntil != nil {
					t.Errorf("key state %+v, want enabled", s)
				}
				clk.Advance(tc.verdict.CooledFor)
				for range 3 { // no longer a probe: any number of leases
					mustLease(t, p, 0)
				}
			case tc.probeNext:
				want := "disabled after upstream 401 Unauthorized; may be probed now"
				if !s.Disabled || !s.Available || s.Reason != want {
					t.Errorf("key state %+v, want disabled and available with reason %q", s, want)
				}
				mustLease(t, p, 0)
				if u := unavailable(t, p, 0); u.RetryAfter != 0 || !u.Rejected {
					t.Errorf("a second lease during the next probe: %+v, want a probe in flight", u)
				}
			default:
				if u := unavailable(t, p, 0); u.RetryAfter != tc.retryIn || !u.Rejected {
					t.Errorf("Unavailable = %+v, want rejected, retry after %v", u, tc.retryIn)
				}
				clk.Advance(tc.retryIn)
				mustLease(t, p, 0)
			}
		})
	}
}

func TestFailedProbesDoubleTheRetryUpToTheBound(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want []time.Duration
	}{
		{"the default starts at a minute and stops at half an hour", nil,
			[]time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 30 * time.Minute, 30 * time.Minute}},
		{"a zero key retry means the default", []Option{WithKeyRetry(0)},
			[]time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute}},
		{"a custom key retry doubles from its own base", []Option{WithKeyRetry(10 * time.Second)},
			[]time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second}},
		{"a key retry above the bound is kept and does not double", []Option{WithKeyRetry(time.Hour)},
			[]time.Duration{time.Hour, time.Hour, time.Hour}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			p := NewPool("p", []config.Key{{Key: "k"}}, "", clk.Now, tc.opts...)
			var got []time.Duration
			for range tc.want {
				v := rejectKey(t, p, Outcome{Status: 403, Usage: -1})
				got = append(got, v.RetryIn)
				clk.Advance(v.RetryIn)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("retries (-want +got):\n%s", diff)
			}
			if v := mustLease(t, p, 0).Release(ok200); !v.Reenabled {
				t.Fatalf("probe verdict %+v, want Reenabled", v)
			}
			if v := rejectKey(t, p, Outcome{Status: 403, Usage: -1}); v.RetryIn != tc.want[0] {
				t.Errorf("after a successful probe the retry is %v, want it reset to %v", v.RetryIn, tc.want[0])
			}
		})
	}
}

func TestLeasesTakenBeforeTheKeyWasDisabledNeitherDoubleNorReenable(t *testing.T) {
	tests := []struct {
		name    string
		outcome Outcome
		verdict Verdict
		retryIn time.Duration
	}{
		{"a second rejection keeps the retry and pushes the probe back", Outcome{Status: 401, Usage: -1},
			Verdict{Disabled: true, RetryIn: time.Minute}, time.Minute},
		{"a success does not re-enable the key", ok200, Verdict{}, 50 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			p := NewPool("p", []config.Key{{Key: "k"}}, "", clk.Now)
			early, late := mustLease(t, p, 0), mustLease(t, p, 0)
			early.Release(Outcome{Status: 401, Usage: -1})
			clk.Advance(10 * time.Second)
			if diff := cmp.Diff(tc.verdict, late.Release(tc.outcome)); diff != "" {
				t.Errorf("verdict of the late lease (-want +got):\n%s", diff)
			}
			if u := unavailable(t, p, 0); u.RetryAfter != tc.retryIn {
				t.Errorf("next probe in %v, want %v", u.RetryAfter, tc.retryIn)
			}
		})
	}
}

func TestUnavailableCountsARejectedKeyUntilItsProbe(t *testing.T) {
	tests := []struct {
		name    string
		cooling string // the other key's retry-after, seconds
		want    *Unavailable
	}{
		{"the probe comes first", "30", &Unavailable{Provider: "p", RetryAfter: 20 * time.Second,
			Reason: "disabled after upstream 401 Unauthorized; next probe in 20s"}},
		{"the cooldown ends first", "10", &Unavailable{Provider: "p", RetryAfter: 10 * time.Second,
			Reason: "cooling down after 429"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			p := NewPool("p", []config.Key{{Key: "rejected"}, {Key: "cooling"}}, "", clk.Now, WithSleep(clk.Sleep))
			rejectKey(t, p, Outcome{Status: 401, Usage: -1})
			clk.Advance(40 * time.Second)
			mustLease(t, p, 0).Release(Outcome{Status: 429, Header: http.Header{"Retry-After": {tc.cooling}}, Usage: -1})
			if diff := cmp.Diff(tc.want, unavailable(t, p, 0)); diff != "" {
				t.Errorf("Unavailable (-want +got):\n%s", diff)
			}
			// LeaseWait waits for the cooling key only, never for a probe.
			if _, err := p.LeaseWait(context.Background(), 0, time.Hour); err != nil {
				t.Fatalf("LeaseWait: %v", err)
			}
			cooling, _ := time.ParseDuration(tc.cooling + "s")
			if diff := cmp.Diff([]time.Duration{cooling}, clk.Slept()); diff != "" {
				t.Errorf("LeaseWait sleeps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSnapshotShowsWhenARejectedKeyMayBeProbed(t *testing.T) {
	clk := newFakeClock()
	p := NewPool("p", []config.Key{{Key: "k", RPMLimit: 1}}, "", clk.Now)
	rejectKey(t, p, Outcome{Status: 401, Usage: -1})
	until := clk.Now().Add(time.Minute)
	const by = "disabled after upstream 401 Unauthorized"
	var probe *Lease
	tests := []struct {
		name string
		step func()
		want func() KeyState
	}{
		{"waiting for its retry", func() {},
			func() KeyState { return KeyState{Disabled: true, DisabledUntil: &until, Reason: by} }},
		{"due for its probe", func() { clk.Advance(time.Minute) },
			func() KeyState {
				return KeyState{Available: true, Disabled: true, DisabledUntil: &until, Reason: by + "; may be probed now"}
			}},
		{"while its probe is in flight", func() { probe = mustLease(t, p, 0) },
			func() KeyState {
				return KeyState{InFlight: 1, Disabled: true, DisabledUntil: &until, Reason: by + "; a probe is in flight"}
			}},
		{"due but held back by its rpm limit", func() { probe.Release(Outcome{Err: errors.New("reset"), Usage: -1}) },
			func() KeyState {
				return KeyState{Disabled: true, DisabledUntil: &until, Reason: by + "; its probe waits: rpm_limit reached"}
			}},
		{"enabled by a successful probe", func() {
			clk.Advance(time.Minute)
			mustLease(t, p, 0).Release(ok200)
		}, func() KeyState {
			return KeyState{Reason: "rpm_limit reached", CoolingUntil: clk.Now().Add(time.Minute)}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.step()
			if diff := cmp.Diff([]KeyState{tc.want()}, p.Snapshot()); diff != "" {
				t.Errorf("Snapshot (-want +got):\n%s", diff)
			}
		})
	}
	clk.Advance(time.Minute)
	rejectKey(t, p, Outcome{Status: 403, Usage: -1})
	b, err := json.Marshal(p.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	want := `"disabled_until":"` + clk.Now().Add(time.Minute).Format(time.RFC3339) + `"`
	if !strings.Contains(string(b), want) {
		t.Errorf("Snapshot JSON %s, want %s", b, want)
	}
}
