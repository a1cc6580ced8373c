package clientkey

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/state"
)

const secret = "ccr_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"

// degraded is a store whose shared part is unreachable: a local store reporting a share of a
// third, as the Redis store does with expected_instances: 3.
type degraded struct{ *state.Local }

func (degraded) Share() float64 { return 1.0 / 3 }

func table(k config.ClientKey, store state.Store, now func() time.Time) *Table {
	k.Name, k.KeySHA256 = "alice", config.SecretDigest(secret)
	return New(config.Auth{Keys: []config.ClientKey{k}}, store, now)
}

func TestTheTableHoldsDigestsOnly(t *testing.T) {
	tb := New(config.Auth{APIKey: "shared-plain", Keys: []config.ClientKey{{Name: "alice", Key: secret}}}, nil, nil)
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			if strings.Contains(v.String(), secret) || strings.Contains(v.String(), "shared-plain") {
				t.Errorf("the table holds a secret in plain text")
			}
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(k)
				walk(v.MapIndex(k))
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		}
	}
	walk(reflect.ValueOf(tb.keys))
	if k, _, e := tb.Authenticate(secret, ""); e != nil || k.Name != "alice" {
		t.Errorf("the plaintext-configured key is not found by its digest: %v", e)
	}
	if k, _, e := tb.Authenticate("", "shared-plain"); e != nil || k.Name != "" {
		t.Errorf("server.auth.api_key is not an unnamed key: %v", e)
	}
}

func TestLimitsAreThisInstancesShareWhileTheSharedStateIsDown(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tb := table(config.ClientKey{RPMLimit: 9, MaxConcurrent: 2}, degraded{state.NewLocal(clock)}, clock)
	k, _, _ := tb.Authenticate(secret, "")
	ctx := context.Background()
	first, e := tb.Admit(ctx, k, nil)
	if e != nil {
		t.Fatal(e)
	}
	// max_concurrent 2 × 1/3 rounds down to the minimum of 1.
	_, e = tb.Admit(ctx, k, nil)
	if e == nil || e.Status != 429 || !strings.Contains(e.Message, "has 1 requests in flight, its max_concurrent (this instance's share") {
		t.Fatalf("second request in flight: %v", e)
	}
	first.Done(ctx, -1, 0)
	// rpm 9 × 1/3 = 3 a minute: the refused request took none of it.
	for i := range 2 {
		tk, e := tb.Admit(ctx, k, nil)
		if e != nil {
			t.Fatalf("request %d of the minute: %v", i+2, e)
		}
		tk.Done(ctx, -1, 0)
	}
	_, e = tb.Admit(ctx, k, nil)
	if e == nil || e.Status != 429 || !strings.Contains(e.Message, "rpm_limit of 3 requests per minute (this instance's share") || e.RetryAfter != 20 {
		t.Fatalf("fourth request of the minute: %+v", e)
	}
}

func TestTPMIsCorrectedFromTheEstimateToTheUsage(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tb := table(config.ClientKey{TPMLimit: 1000}, state.NewLocal(clock), clock)
	k, _, _ := tb.Authenticate(secret, "")
	ctx := context.Background()
	est := func(n int) func() int { return func() int { return n } }
	// Estimated at 900, used 100: 800 are given back, so 900 more fit.
	tk, e := tb.Admit(ctx, k, est(900))
	if e != nil {
		t.Fatal(e)
	}
	tk.Done(ctx, 100, 0)
	tk, e = tb.Admit(ctx, k, est(900))
	if e != nil {
		t.Fatalf("after the refund: %v", e)
	}
	// Estimated at 900, used 950: 50 more are charged; the bucket is full.
	tk.Done(ctx, 950, 0)
	if _, e := tb.Admit(ctx, k, est(1)); e == nil || e.Status != 429 {
		t.Fatalf("a full bucket admitted a request: %v", e)
	}
}

func TestAnExpiredInFlightCounterDoesNotGoNegative(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	store := state.NewLocal(clock)
	tb := table(config.ClientKey{MaxConcurrent: 1}, store, clock)
	k, _, _ := tb.Authenticate(secret, "")
	ctx := context.Background()
	tk, e := tb.Admit(ctx, k, nil)
	if e != nil {
		t.Fatal(e)
	}
	now = now.Add(concurrencyTTL + time.Second) // the counter expires under the request
	tk.Done(ctx, -1, 0)
	if n, _ := store.Add(ctx, k.storeKey("inflight"), 0, 0); n != 0 {
		t.Fatalf("in flight = %v, want 0", n)
	}
	if _, e := tb.Admit(ctx, k, nil); e != nil {
		t.Fatalf("one request in flight after the expiry: %v", e)
	}
}

// countingStore counts a store's calls, one per round trip on a shared store.
type countingStore struct {
	state.Store
	calls int
}

func (c *countingStore) Take(ctx context.Context, key string, limit int64, period time.Duration, cost int64) (bool, time.Duration, error) {
	c.calls++
	return c.Store.Take(ctx, key, limit, period, cost)
}

func (c *countingStore) Add(ctx context.Context, key string, delta float64, ttl time.Duration) (float64, error) {
	c.calls++
	return c.Store.Add(ctx, key, delta, ttl)
}

func (c *countingStore) Batch(ctx context.Context, ops []state.Op) error {
	c.calls++
	return c.Store.Batch(ctx, ops)
}

func TestAdmissionIsOneRoundTrip(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	store := &countingStore{Store: state.NewLocal(clock)}
	ck := config.ClientKey{RPMLimit: 2, TPMLimit: 1000, MaxConcurrent: 5}
	ck.BudgetUSD.Daily, ck.BudgetUSD.Monthly = 1, 10
	tb := table(ck, store, clock)
	k, _, _ := tb.Authenticate(secret, "")
	ctx := context.Background()
	for i := range 2 {
		store.calls = 0
		if _, e := tb.Admit(ctx, k, func() int { return 10 }); e != nil {
			t.Fatalf("request %d: %v", i, e)
		}
		if store.calls != 1 {
			t.Errorf("request %d: %d store calls to admit, want 1 (one batch)", i, store.calls)
		}
	}
	// The third is over rpm: refused, and what the batch took (in flight, tpm) given back in
	// one more.
	store.calls = 0
	if _, e := tb.Admit(ctx, k, func() int { return 10 }); e == nil || e.Status != 429 {
		t.Fatalf("third request: %v, want 429", e)
	}
	if store.calls != 2 {
		t.Errorf("a refusal took %d store calls, want 2 (the batch and its give-back)", store.calls)
	}
	if n, _ := store.Store.Add(ctx, k.storeKey("inflight"), 0, 0); n != 2 {
		t.Errorf("in flight after the refusal = %v, want the 2 admitted", n)
	}
}
