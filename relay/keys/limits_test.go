package keys

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ccrelay/ccrelay/relay/config"
)

// event is one step of a simulated run against a single-key pool.
type event struct {
	at      time.Duration // since the start of the run
	lease   int           // ≥ 0: lease number admitted at this step
	release int           // ≥ 0: lease number released at this step
}

// leaseRecord is what the simulation knows of one admitted lease.
type leaseRecord struct {
	step     int     // index of the admitting event
	charged  float64 // tokens charged up front
	usage    float64 // real usage; the charge when reported unknown or never released
	released int     // index of the releasing event, -1 if never
}

// TestTokenBucketsNeverOverAdmit runs random sequences of clock advances, leases (estimates
// sometimes above the bucket) and releases (real usage below or above the estimate, or
// unknown) against one key with rpm and tpm limits, and checks over every window [a, b] of
// the run:
//
//   - requests admitted ≤ rpm + rpm·(b−a)/1m;
//   - real tokens of the leases admitted ≤ tpm + tpm·(b−a)/1m
//   - refunds during the window of leases admitted before it (tokens paid before a)
//   - under-estimates of the window's own leases (usage the pool could only learn afterwards);
//   - (windows up to three minutes long; the busiest must come within 75% of a bound, or the
//     run would not be testing the limits);
//   - no bucket ever holds more than its capacity, and the rpm bucket never goes negative.
func TestTokenBucketsNeverOverAdmit(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 99))
		rpm, tpm := 5+rng.IntN(60), 1000+rng.IntN(50_000)
		clk := newFakeClock()
		p := NewPool("p", []config.Key{{Key: "k", RPMLimit: rpm, TPMLimit: tpm}}, "", clk.Now)
		k := p.keys[0]
		start := clk.Now()

		var events []event
		var leases []leaseRecord
		var held []*Lease
		var heldIDs []int
		for step := range 1000 {
			switch r := rng.IntN(10); {
			case r < 3:
				steps := []time.Duration{0, time.Millisecond, 700 * time.Millisecond, 3 * time.Second, 20 * time.Second}
				clk.Advance(steps[rng.IntN(len(steps))])
				events = append(events, event{at: clk.Now().Sub(start), lease: -1, release: -1})
			case r < 7:
				est := rng.IntN(tpm / 4)
				if rng.IntN(20) == 0 {
					est = tpm + rng.IntN(tpm) // larger than the bucket
				}
				l, err := p.Lease(est)
				if err != nil {
					events = append(events, event{at: clk.Now().Sub(start), lease: -1, release: -1})
					continue
				}
				id := len(leases)
				leases = append(leases, leaseRecord{step: step, charged: l.charged, usage: l.charged, released: -1})
				held, heldIDs = append(held, l), append(heldIDs, id)
				events = append(events, event{at: clk.Now().Sub(start), lease: id, release: -1})
			default:
				if len(held) == 0 {
					events = append(events, event{at: clk.Now().Sub(start), lease: -1, release: -1})
					continue
				}
				j := rng.IntN(len(held))
				l, id := held[j], heldIDs[j]
				held, heldIDs = append(held[:j], held[j+1:]...), append(heldIDs[:j], heldIDs[j+1:]...)
				usage := -1
				if rng.IntN(5) > 0 {
					usage = rng.IntN(int(2*l.charged) + 1)
					leases[id].usage = float64(usage)
				}
				l.Release(Outcome{Status: 200, Usage: usage})
				leases[id].released = step
				events = append(events, event{at: clk.Now().Sub(start), lease: -1, release: id})
			}
			if k.rpm.tokens > k.rpm.capacity+epsilon || k.tpm.tokens > k.tpm.capacity+epsilon || k.rpm.tokens < -epsilon {
				t.Fatalf("seed %d step %d: rpm %.3f/%v tpm %.3f/%v out of bounds", seed, step,
					k.rpm.tokens, k.rpm.capacity, k.tpm.tokens, k.tpm.capacity)
			}
			if k.inFlight != len(held) {
				t.Fatalf("seed %d step %d: in flight %d, want %d", seed, step, k.inFlight, len(held))
			}
		}

		tightest := 0.0
		for a := range events {
			count, usage, slack := 0.0, 0.0, 0.0
			for b := a; b < len(events) && events[b].at-events[a].at <= 3*time.Minute; b++ {
				e := events[b]
				if e.lease >= 0 {
					r := leases[e.lease]
					count++
					usage += r.usage
					slack += max(r.usage-r.charged, 0)
				}
				if e.release >= 0 && leases[e.release].step < a {
					r := leases[e.release]
					slack += max(r.charged-r.usage, 0)
				}
				minutes := float64(e.at-events[a].at) / float64(time.Minute)
				tightest = max(tightest, count/(float64(rpm)*(1+minutes)))
				if limit := float64(rpm) * (1 + minutes); count > limit+1e-6 {
					t.Fatalf("seed %d: %v requests admitted in %v, rpm %d allows %.3f", seed, count, e.at-events[a].at, rpm, limit)
				}
				tightest = max(tightest, usage/(float64(tpm)*(1+minutes)+slack))
				if limit := float64(tpm)*(1+minutes) + slack; usage > limit+1e-3 {
					t.Fatalf("seed %d: %.0f tokens admitted in %v, tpm %d allows %.3f", seed, usage, e.at-events[a].at, tpm, limit)
				}
			}
		}
		if tightest < 0.75 {
			t.Errorf("seed %d: the busiest window used %.0f%% of a bound; the run does not test the limits", seed, 100*tightest)
		}
	}
}

func TestLeaseWait(t *testing.T) {
	spent := func(clk *fakeClock) *Pool { // one key, its one request per minute used up
		p := NewPool("p", []config.Key{{Key: "k", RPMLimit: 1}}, "", clk.Now, WithSleep(clk.Sleep))
		p.Lease(0)
		return p
	}
	t.Run("waits when the key frees up within max wait", func(t *testing.T) {
		clk := newFakeClock()
		p := spent(clk)
		start := clk.Now()
		l, err := p.LeaseWait(context.Background(), 0, 90*time.Second)
		if err != nil {
			t.Fatalf("LeaseWait: %v", err)
		}
		if l.Index() != 0 || clk.Now().Sub(start) != time.Minute {
			t.Errorf("leased %d after %v, want key 0 after 1m", l.Index(), clk.Now().Sub(start))
		}
	})
	t.Run("never waits past max wait", func(t *testing.T) {
		clk := newFakeClock()
		p := spent(clk)
		_, err := p.LeaseWait(context.Background(), 0, 59*time.Second)
		var u *Unavailable
		if !errors.As(err, &u) || u.RetryAfter != time.Minute {
			t.Fatalf("LeaseWait error %v, want Unavailable retry after 1m", err)
		}
		if s := clk.Slept(); len(s) != 0 {
			t.Errorf("slept %v, want no sleep", s)
		}
	})
	t.Run("zero max wait never waits", func(t *testing.T) {
		clk := newFakeClock()
		if _, err := spent(clk).LeaseWait(context.Background(), 0, 0); err == nil || len(clk.Slept()) != 0 {
			t.Errorf("err %v, slept %v; want an error and no sleep", err, clk.Slept())
		}
	})
	t.Run("a cancelled context stops the wait", func(t *testing.T) {
		clk := newFakeClock()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := spent(clk).LeaseWait(ctx, 0, time.Hour); !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", err)
		}
	})
	t.Run("disabled keys are not waited for", func(t *testing.T) {
		clk := newFakeClock()
		p := NewPool("p", []config.Key{{Key: "k"}}, "", clk.Now, WithSleep(clk.Sleep))
		mustLease(t, p, 0).Release(Outcome{Status: 401, Usage: -1})
		if _, err := p.LeaseWait(context.Background(), 0, time.Hour); err == nil || len(clk.Slept()) != 0 {
			t.Errorf("err %v, slept %v; want an error and no sleep", err, clk.Slept())
		}
	})
	t.Run("waits again when another request took the freed key, within the same bound", func(t *testing.T) {
		clk := newFakeClock()
		p := NewPool("p", []config.Key{{Key: "k"}}, "", clk.Now)
		mustLease(t, p, 0).Release(Outcome{Status: 429, Header: http.Header{"Retry-After": {"10"}}, Usage: -1})
		rival := true
		p.sleep = func(ctx context.Context, d time.Duration) error {
			clk.Sleep(ctx, d)
			if rival { // someone else gets the key first and is told to back off again
				rival = false
				mustLease(t, p, 0).Release(Outcome{Status: 429, Header: http.Header{"Retry-After": {"10"}}, Usage: -1})
			}
			return nil
		}
		if _, err := p.LeaseWait(context.Background(), 0, 15*time.Second); err == nil {
			t.Fatal("LeaseWait succeeded after 20s of cooldown with a 15s bound")
		}
		if diff := cmp.Diff([]time.Duration{10 * time.Second}, clk.Slept()); diff != "" {
			t.Errorf("sleeps (-want +got):\n%s", diff)
		}
	})
}
