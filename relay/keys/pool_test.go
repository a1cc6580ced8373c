package keys

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ccrelay/ccrelay/relay/config"
)

var ok200 = Outcome{Status: http.StatusOK, Usage: -1}

// leaseSeq leases and releases n times and returns the indexes of the keys leased.
func leaseSeq(t *testing.T, p *Pool, n int) []int {
	t.Helper()
	var got []int
	for range n {
		l, err := p.Lease(0)
		if err != nil {
			t.Fatalf("Lease: %v", err)
		}
		got = append(got, l.Index())
		l.Release(ok200)
	}
	return got
}

func mustLease(t *testing.T, p *Pool, est int) *Lease {
	t.Helper()
	l, err := p.Lease(est)
	if err != nil {
		t.Fatalf("Lease(%d): %v", est, err)
	}
	return l
}

func unavailable(t *testing.T, p *Pool, est int) *Unavailable {
	t.Helper()
	l, err := p.Lease(est)
	if err == nil {
		t.Fatalf("Lease(%d) = key %d, want *Unavailable", est, l.Index())
	}
	var u *Unavailable
	if !errors.As(err, &u) {
		t.Fatalf("Lease(%d) error %T %v, want *Unavailable", est, err, err)
	}
	return u
}

func TestStrategiesWithinOnePriority(t *testing.T) {
	three := []config.Key{{Key: "k0"}, {Key: "k1"}, {Key: "k2"}}
	tests := []struct {
		name     string
		keys     []config.Key
		strategy string
		want     []int
	}{
		{"round robin visits every key in turn", three, config.KeyStrategyRoundRobin, []int{0, 1, 2, 0, 1, 2, 0}},
		{"an unknown strategy means round robin", three, "bogus", []int{0, 1, 2, 0}},
		{"weighted is smooth: 5,1,1 interleaves like nginx", []config.Key{{Key: "a", Weight: 5}, {Key: "b", Weight: 1}, {Key: "c", Weight: 1}},
			config.KeyStrategyWeighted, []int{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0}},
		{"weighted treats weight 0 as 1", []config.Key{{Key: "a"}, {Key: "b", Weight: 0}}, config.KeyStrategyWeighted, []int{0, 1, 0, 1}},
		{"least loaded with nothing in flight rotates", three, config.KeyStrategyLeastLoaded, []int{0, 1, 2, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPool("p", tc.keys, tc.strategy, newFakeClock().Now)
			if diff := cmp.Diff(tc.want, leaseSeq(t, p, len(tc.want))); diff != "" {
				t.Errorf("leased keys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLeastLoadedPicksFewestInFlight(t *testing.T) {
	p := NewPool("p", []config.Key{{Key: "k0"}, {Key: "k1"}, {Key: "k2"}}, config.KeyStrategyLeastLoaded, newFakeClock().Now)
	held := map[int][]*Lease{}
	for range 6 { // two each
		l := mustLease(t, p, 0)
		held[l.Index()] = append(held[l.Index()], l)
	}
	held[1][0].Release(ok200)
	held[1][1].Release(ok200)
	held[2][0].Release(ok200)
	// In flight now: k0 2, k1 0, k2 1.
	var got []int
	for range 3 {
		l := mustLease(t, p, 0)
		got = append(got, l.Index())
	}
	// k1 has fewest; then k1 and k2 tie at 1 and the tie goes round robin (k2); then k1 again.
	if diff := cmp.Diff([]int{1, 2, 1}, got); diff != "" {
		t.Errorf("leased keys (-want +got):\n%s", diff)
	}
}

func TestRandomStrategyCoversKeysUniformly(t *testing.T) {
	p := NewPool("p", []config.Key{{Key: "k0"}, {Key: "k1"}, {Key: "k2"}, {Key: "k3"}}, config.KeyStrategyRandom,
		newFakeClock().Now, WithRand(rand.New(rand.NewPCG(1, 2))))
	const n = 4000
	counts := make([]int, 4)
	for _, i := range leaseSeq(t, p, n) {
		counts[i]++
	}
	for i, c := range counts {
		if c < n/4*85/100 || c > n/4*115/100 {
			t.Errorf("key %d leased %d times of %d, want about %d", i, c, n, n/4)
		}
	}
}

func TestWeightedProportions(t *testing.T) {
	p := NewPool("p", []config.Key{{Key: "a", Weight: 3}, {Key: "b", Weight: 2}, {Key: "c", Weight: 1}}, config.KeyStrategyWeighted, newFakeClock().Now)
	counts := make([]int, 3)
	for _, i := range leaseSeq(t, p, 600) {
		counts[i]++
	}
	if diff := cmp.Diff([]int{300, 200, 100}, counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

func TestPriorityComesFirstWhileUsable(t *testing.T) {
	clk := newFakeClock()
	p := NewPool("p", []config.Key{
		{Key: "low", Priority: 1},
		{Key: "high-a", Priority: 5},
		{Key: "high-b", Priority: 5},
	}, config.KeyStrategyRoundRobin, clk.Now)
	if diff := cmp.Diff([]int{1, 2, 1, 2}, leaseSeq(t, p, 4)); diff != "" {
		t.Fatalf("with both high keys usable (-want +got):\n%s", diff)
	}
	// Cool both high keys down: the low key takes over, then gives way again.
	for range 2 {
		l := mustLease(t, p, 0)
		l.Release(Outcome{Status: 429, Header: http.Header{"Retry-After": {"5"}}, Usage: -1})
	}
	if got := mustLease(t, p, 0); got.Index() != 0 {
		t.Fatalf("with high keys cooling, leased %d, want the low key 0", got.Index())
	} else {
		got.Release(ok200)
	}
	clk.Advance(5 * time.Second)
	if got := mustLease(t, p, 0); got.Priority() != 5 {
		t.Errorf("after the cooldown, leased key %d, want a priority-5 key", got.Index())
	}
}

// Priority returns the leased key's priority (test helper).
func (l *Lease) Priority() int { return l.pool.keys[l.index].priority }

func TestLeasePrefer(t *testing.T) {
	clk := newFakeClock()
	p := NewPool("p", []config.Key{{Key: "k0", Priority: 1}, {Key: "k1", Priority: 1}, {Key: "k2", Priority: 1}, {Key: "low"}}, "", clk.Now)
	var got []int
	for _, prefer := range []int{2, 2, 1, -1, 3, 99} {
		l, err := p.LeasePrefer(0, prefer)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l.Index())
		l.Release(ok200)
	}
	// A preference for the low-priority key 3, or for no key, falls back to round robin.
	if diff := cmp.Diff([]int{2, 2, 1, 0, 1, 2}, got); diff != "" {
		t.Errorf("leased (-want +got):\n%s", diff)
	}
	mustLease(t, p, 0).Release(Outcome{Status: 429, Usage: -1}) // key 0 cools down
	if l, _ := p.LeasePrefer(0, 0); l.Index() == 0 {
		t.Error("LeasePrefer took a cooling key")
	}
}

func TestCooldownAfter429(t *testing.T) {
	clk := newFakeClock()
	now := clk.Now()
	resetIn := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"retry-after in seconds", http.Header{"Retry-After": {"7"}}, 7 * time.Second},
		{"retry-after as an HTTP-date", http.Header{"Retry-After": {now.Add(42 * time.Second).Format(http.TimeFormat)}}, 42 * time.Second},
		{"retry-after-ms wins over retry-after", http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"9"}}, 1500 * time.Millisecond},
		{"the earliest anthropic-ratelimit reset", http.Header{
			"Anthropic-Ratelimit-Requests-Reset":      {resetIn(30 * time.Second)},
			"Anthropic-Ratelimit-Input-Tokens-Reset":  {resetIn(12 * time.Second)},
			"Anthropic-Ratelimit-Output-Tokens-Reset": {resetIn(-5 * time.Second)},
		}, 12 * time.Second},
		{"no hint: the default backoff", nil, 10 * time.Second},
		{"an unparsable hint counts as none", http.Header{"Retry-After": {"soon"}}, 10 * time.Second},
		{"a far-off date is capped at the max cooldown", http.Header{"Retry-After": {"999999999"}}, time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			p := NewPool("p", []config.Key{{Key: "k0"}, {Key: "k1"}}, config.KeyStrategyRoundRobin, clk.Now)
			l := mustLease(t, p, 0)
			v := l.Release(Outcome{Status: 429, Header: tc.header, Usage: -1})
			if diff := cmp.Diff(Verdict{CooledFor: tc.want}, v); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			// Key 1 is free; once it is busy too the pool reports key 0's cooldown.
			l1 := mustLease(t, p, 0)
			l1.Release(Outcome{Status: 429, Header: http.Header{"Retry-After": {"7200"}}, Usage: -1})
			u := unavailable(t, p, 0)
			if u.RetryAfter != tc.want || u.Reason != "cooling down after 429" {
				t.Errorf("Unavailable = %v, %q; want %v, cooling down", u.RetryAfter, u.Reason, tc.want)
			}
			clk.Advance(tc.want)
			if l := mustLease(t, p, 0); l.Index() != 0 {
				t.Errorf("after the cooldown leased key %d, want 0", l.Index())
			}
		})
	}
}

func TestDefaultBackoffDoublesUpToTheBound(t *testing.T) {
	clk := newFakeClock()
	p := NewPool("p", []config.Key{{Key: "k"}}, "", clk.Now)
	var got []time.Duration
	for range 8 {
		l := mustLease(t, p, 0)
		v := l.Release(Outcome{Status: 429, Usage: -1})
		got = append(got, v.CooledFor)
		clk.Advance(v.CooledFor)
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 5 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backoffs (-want +got):\n%s", diff)
	}
	mustLease(t, p, 0).Release(ok200)
	if v := mustLease(t, p, 0).Release(Outcome{Status: 429, Usage: -1}); v.CooledFor != 10*time.Second {
		t.Errorf("after a success the backoff is %v, want it reset to 10s", v.CooledFor)
	}

	q := NewPool("q", []config.Key{{Key: "k"}}, "", clk.Now, WithBackoff(time.Second, 3*time.Second))
	got = got[:0]
	for range 4 {
		v := mustLease(t, q, 0).Release(Outcome{Status: 429, Usage: -1})
		got = append(got, v.CooledFor)
		clk.Advance(v.CooledFor)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}, got); diff != "" {
		t.Errorf("custom backoffs (-want +got):\n%s", diff)
	}
}

func TestAuthFailuresDisableTheKey(t *testing.T) {
	for _, status := range []int{401, 403} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			p := NewPool("p", []config.Key{{Key: "k0"}, {Key: "k1"}}, "", newFakeClock().Now)
			v := mustLease(t, p, 0).Release(Outcome{Status: status, Usage: -1})
			if !v.Disabled {
				t.Fatalf("verdict %+v, want Disabled", v)
			}
			if diff := cmp.Diff([]int{1, 1, 1}, leaseSeq(t, p, 3)); diff != "" {
				t.Errorf("after disabling key 0 (-want +got):\n%s", diff)
			}
			mustLease(t, p, 0).Release(Outcome{Status: status, Usage: -1})
			u := unavailable(t, p, 0)
			if !u.Rejected || u.RetryAfter != time.Minute || u.Reason != "all keys rejected by the provider; next probe in 1m0s" {
				t.Errorf("Unavailable = %+v, want rejected, next probe in 1m", u)
			}
			want := fmt.Sprintf("disabled after upstream %d %s", status, http.StatusText(status))
			for _, s := range p.Snapshot() {
				if !s.Disabled || s.Available || s.Reason != want || s.DisabledUntil == nil {
					t.Errorf("Snapshot key %d = %+v, want disabled until a time, with reason %q", s.Index, s, want)
				}
			}
		})
	}
}

func TestUpstreamBudgetHeaders(t *testing.T) {
	clk := newFakeClock()
	now := clk.Now()
	reset := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	tests := []struct {
		name   string
		header http.Header
		est    int
		want   time.Duration
		reason string
	}{
		{"requests remaining 0 with no limit: unusable until reset", http.Header{
			"Anthropic-Ratelimit-Requests-Remaining": {"0"},
			"Anthropic-Ratelimit-Requests-Reset":     {reset(20 * time.Second)},
		}, 0, 20 * time.Second, "upstream requests limit reached"},
		{"requests remaining 0 with a limit of 60/min: one request back within a second", http.Header{
			"Anthropic-Ratelimit-Requests-Limit":     {"60"},
			"Anthropic-Ratelimit-Requests-Remaining": {"0"},
			"Anthropic-Ratelimit-Requests-Reset":     {reset(20 * time.Second)},
		}, 0, time.Second, "upstream requests limit reached"},
		{"input tokens below the estimate", http.Header{
			"Anthropic-Ratelimit-Input-Tokens-Limit":     {"60000"},
			"Anthropic-Ratelimit-Input-Tokens-Remaining": {"1000"},
			"Anthropic-Ratelimit-Input-Tokens-Reset":     {reset(50 * time.Second)},
		}, 3000, 2 * time.Second, "upstream input-tokens limit reached"},
		{"output tokens exhausted", http.Header{
			"Anthropic-Ratelimit-Output-Tokens-Remaining": {"0"},
			"Anthropic-Ratelimit-Output-Tokens-Reset":     {reset(9 * time.Second)},
		}, 0, 9 * time.Second, "upstream output-tokens limit reached"},
		{"a reset in the past is ignored", http.Header{
			"Anthropic-Ratelimit-Requests-Remaining": {"0"},
			"Anthropic-Ratelimit-Requests-Reset":     {reset(-time.Second)},
		}, 0, 0, ""},
		{"remaining without a reset is ignored", http.Header{
			"Anthropic-Ratelimit-Tokens-Remaining": {"0"},
		}, 10, 0, ""},
		{"plenty remaining", http.Header{
			"Anthropic-Ratelimit-Tokens-Remaining": {"279000"},
			"Anthropic-Ratelimit-Tokens-Reset":     {reset(time.Second)},
		}, 1000, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			p := NewPool("p", []config.Key{{Key: "k"}}, "", clk.Now)
			mustLease(t, p, 0).Release(Outcome{Status: 200, Header: tc.header, Usage: 10})
			if tc.want == 0 {
				mustLease(t, p, tc.est)
				return
			}
			u := unavailable(t, p, tc.est)
			if u.RetryAfter != tc.want || u.Reason != tc.reason {
				t.Errorf("Unavailable = %v %q, want %v %q", u.RetryAfter, u.Reason, tc.want, tc.reason)
			}
			clk.Advance(tc.want)
			mustLease(t, p, tc.est)
		})
	}
}

func TestBudgetIsSpentByConcurrentLeases(t *testing.T) {
	clk := newFakeClock()
	p := NewPool("p", []config.Key{{Key: "k"}}, "", clk.Now)
	mustLease(t, p, 0).Release(Outcome{Status: 200, Usage: 5, Header: http.Header{
		"Anthropic-Ratelimit-Requests-Remaining": {"2"},
		"Anthropic-Ratelimit-Requests-Reset":     {clk.Now().Add(10 * time.Second).Format(time.RFC3339)},
	}})
	mustLease(t, p, 0)
	mustLease(t, p, 0)
	if u := unavailable(t, p, 0); u.RetryAfter != 10*time.Second {
		t.Errorf("third lease: retry after %v, want 10s", u.RetryAfter)
	}
}

func TestUnavailableReportsTheSoonestKey(t *testing.T) {
	clk := newFakeClock()
	p := NewPool("p", []config.Key{
		{Key: "cooling", Priority: 9},
		{Key: "rpm", RPMLimit: 30, Priority: 1}, // one request every 2 s
		{Key: "dead"},
	}, "", clk.Now)
	mustLease(t, p, 0).Release(Outcome{Status: 429, Header: http.Header{"Retry-After": {"30"}}, Usage: -1})
	for range 30 {
		if l := mustLease(t, p, 0); l.Index() != 1 {
			t.Fatalf("leased %d, want the rpm key 1", l.Index())
		}
	}
	if l := mustLease(t, p, 0); l.Index() != 2 {
		t.Fatalf("leased %d, want key 2", l.Index())
	} else {
		l.Release(Outcome{Status: 401, Usage: -1})
	}
	u := unavailable(t, p, 0)
	if diff := cmp.Diff(&Unavailable{Provider: "p", RetryAfter: 2 * time.Second, Reason: "rpm_limit reached"}, u); diff != "" {
		t.Errorf("Unavailable (-want +got):\n%s", diff)
	}
	if !strings.Contains(u.Error(), "retry after 2s") {
		t.Errorf("Error() = %q, want it to mention the retry", u.Error())
	}
}

func TestTPMCorrection(t *testing.T) {
	clk := newFakeClock()
	p := NewPool("p", []config.Key{{Key: "k", TPMLimit: 6000}}, "", clk.Now) // 100 tokens/s

	a := mustLease(t, p, 4000)
	if u := unavailable(t, p, 4000); u.RetryAfter != 20*time.Second || u.Reason != "tpm_limit reached" {
		t.Fatalf("second lease: %v %q, want 20s tpm", u.RetryAfter, u.Reason)
	}
	a.Release(Outcome{Status: 200, Usage: 1000}) // refund 3000
	b := mustLease(t, p, 4000)                   // 5000 − 4000 = 1000 left
	b.Release(Outcome{Status: 200, Usage: 7000}) // 3000 more: 1000 − 3000 = −2000
	if u := unavailable(t, p, 100); u.RetryAfter != 21*time.Second {
		t.Errorf("after an under-estimate: retry after %v, want 21s to repay the debt", u.RetryAfter)
	}
	clk.Advance(21 * time.Second)
	c := mustLease(t, p, 100)
	c.Release(Outcome{Status: 529, Usage: -1}) // an error with unknown usage is refunded
	d := mustLease(t, p, 100)
	d.Release(Outcome{Err: errors.New("connection reset"), Usage: -1}) // a transport error keeps the estimate
	if u := unavailable(t, p, 100); u.RetryAfter != time.Second {
		t.Errorf("retry after %v, want 1s", u.RetryAfter)
	}
}

func TestAnEstimateLargerThanTheBucketWaitsForAFullBucket(t *testing.T) {
	clk := newFakeClock()
	p := NewPool("p", []config.Key{{Key: "k", TPMLimit: 600}}, "", clk.Now)
	mustLease(t, p, 100).Release(Outcome{Status: 200, Usage: -1})
	if u := unavailable(t, p, 10_000); u.RetryAfter != 10*time.Second {
		t.Fatalf("retry after %v, want 10s until the bucket is full", u.RetryAfter)
	}
	clk.Advance(10 * time.Second)
	mustLease(t, p, 10_000)
}

func TestKeylessPoolLeasesWithoutLimits(t *testing.T) {
	p := NewPool("ollama", nil, "", newFakeClock().Now)
	var ls []*Lease
	for range 1000 {
		l := mustLease(t, p, 1<<20)
		if l.Key() != "" || l.Index() != -1 {
			t.Fatalf("lease = %q %d, want \"\" -1", l.Key(), l.Index())
		}
		ls = append(ls, l)
	}
	if got := p.InFlight(); got != 1000 {
		t.Errorf("InFlight = %d, want 1000", got)
	}
	for _, l := range ls {
		if v := l.Release(Outcome{Status: 429, Usage: -1}); v != (Verdict{}) {
			t.Errorf("verdict %+v, want none", v)
		}
	}
	if got, snap := p.InFlight(), p.Snapshot(); got != 0 || len(snap) != 0 {
		t.Errorf("InFlight = %d, Snapshot = %v; want 0 and empty", got, snap)
	}
}

func TestReleaseTwiceCountsOnce(t *testing.T) {
	p := NewPool("p", []config.Key{{Key: "k"}}, "", newFakeClock().Now)
	l := mustLease(t, p, 0)
	l.Release(ok200)
	if v := l.Release(Outcome{Status: 401, Usage: -1}); v != (Verdict{}) {
		t.Errorf("second Release verdict %+v, want none", v)
	}
	if got := p.Snapshot()[0]; got.InFlight != 0 || got.Disabled {
		t.Errorf("key state %+v, want 0 in flight and enabled", got)
	}
}

func TestSnapshot(t *testing.T) {
	clk := newFakeClock()
	secrets := []string{"sk-ant-api03-SECRETSECRET-aaaa", "sk-ant-api03-SECRETSECRET-bbbb", "sk-ant-api03-SECRETSECRET-cccc"}
	p := NewPool("p", []config.Key{
		{Key: secrets[0], Priority: 2}, {Key: secrets[1], Priority: 2, RPMLimit: 1}, {Key: secrets[2], Priority: 2},
	}, "", clk.Now)
	held := mustLease(t, p, 0)        // key 0
	mustLease(t, p, 0).Release(ok200) // key 1: rpm spent
	mustLease(t, p, 0).Release(Outcome{Status: 403, Usage: -1})
	got := p.Snapshot()
	want := []KeyState{
		{Index: 0, Priority: 2, InFlight: 1, Available: true},
		{Index: 1, Priority: 2, CoolingUntil: clk.Now().Add(time.Minute), Reason: "rpm_limit reached"},
		{Index: 2, Priority: 2, Disabled: true, DisabledUntil: new(clk.Now().Add(time.Minute)), Reason: "disabled after upstream 403 Forbidden"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Snapshot (-want +got):\n%s", diff)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(b)+fmt.Sprintf("%+v", got), s[len(s)-8:]) {
			t.Errorf("Snapshot reveals a key: %s", b)
		}
	}
	held.Release(ok200)
}

func TestMasked(t *testing.T) {
	tests := []struct{ key, want string }{
		{"", ""},
		{"short", "…"},
		{"sk-ant-api03-abcdefghijklmnop-f3a9", "sk-ant-…f3a9"},
		{"sk-proj-0123456789abcdef", "sk-proj-…cdef"},
		{"AKIAIOSFODNN7EXAMPLE", "…MPLE"},
		{"Bearer-ABCDEFGHIJKLMNOP", "…MNOP"},
		{"abcde-0123456789xyz", "…9xyz"},
	}
	for _, tc := range tests {
		if got := Masked(tc.key); got != tc.want {
			t.Errorf("Masked(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}
