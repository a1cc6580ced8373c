package state_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/ccrelay/ccrelay/relay/state"
)

func newRedis(t *testing.T, url string, instances int) (*state.Redis, *relaytest.LogBuffer) {
	t.Helper()
	logs := &relaytest.LogBuffer{}
	// A timeout well above the default: the tests share a loaded machine, and an outage here
	// is a stopped server, which refuses connections at once.
	s, err := state.NewRedis(state.RedisOptions{URL: url, Prefix: "test:", Instances: instances,
		Timeout: time.Second, ProbeEvery: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

// eventually polls cond every 10 ms for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRedisTakeIsTheLocalGCRA(t *testing.T) {
	ctx := context.Background()
	for _, s := range bothStores(t) {
		t.Run(s.name, func(t *testing.T) {
			// 30 per minute, burst 30: 30 fit at once, the 31st waits about one interval (2s).
			for i := range 30 {
				if ok, _, err := s.store.Take(ctx, "k", 30, time.Minute, 1); !ok || err != nil {
					t.Fatalf("take %d refused (%v)", i, err)
				}
			}
			ok, wait, _ := s.store.Take(ctx, "k", 30, time.Minute, 1)
			if ok || wait <= time.Second || wait > 2*time.Second {
				t.Fatalf("31st: ok=%v wait=%v, want refused with a wait of up to 2s", ok, wait)
			}
			// A refund gives a unit back; a cost above the limit is clamped to it.
			if ok, _, _ := s.store.Take(ctx, "k", 30, time.Minute, -1); !ok {
				t.Fatal("refund refused")
			}
			if ok, _, _ := s.store.Take(ctx, "k", 30, time.Minute, 1); !ok {
				t.Fatal("after refund: refused")
			}
			if ok, _, _ := s.store.Take(ctx, "big", 10, time.Minute, 1000); !ok {
				t.Fatal("a cost above the limit on a full rate was refused")
			}
			// A forced charge goes into debt: the next unit waits for it.
			ops := []state.Op{{Kind: state.OpTake, Key: "f", Limit: 60, Period: time.Minute, Cost: 60}}
			s.store.Batch(ctx, ops)
			ops = []state.Op{{Kind: state.OpTake, Key: "f", Limit: 60, Period: time.Minute, Cost: 30, Force: true},
				state.Take("f", 60, time.Minute, 1)}
			s.store.Batch(ctx, ops)
			if !ops[0].OK || ops[1].OK || ops[1].Wait < 29*time.Second {
				t.Fatalf("forced charge then take: %+v %+v, want the take to wait about 31s", ops[0], ops[1])
			}
			// No limit: always fits, nothing stored.
			if ok, _, _ := s.store.Take(ctx, "none", 0, time.Minute, 5); !ok {
				t.Fatal("a take without a limit was refused")
			}
		})
	}
}

// namedStore is a store under test.
type namedStore struct {
	name  string
	store state.Store
}

// bothStores returns a Local store and a Redis store on a redis-server of the test's own, for
// tests that hold both to the same behaviour.
func bothStores(t *testing.T) []namedStore {
	srv := relaytest.StartRedis(t)
	r, _ := newRedis(t, srv.URL, 1)
	return []namedStore{{"local", state.NewLocal(nil)}, {"redis", r}}
}

func TestRedisCountersAndValues(t *testing.T) {
	ctx := context.Background()
	for _, s := range bothStores(t) {
		t.Run(s.name, func(t *testing.T) {
			st := s.store
			if v, _ := st.Add(ctx, "c", 1.5, 200*time.Millisecond); v != 1.5 {
				t.Fatalf("add = %v", v)
			}
			if v, _ := st.Add(ctx, "c", 1, time.Hour); v != 2.5 {
				t.Fatalf("add = %v", v)
			}
			if err := st.Put(ctx, "v", "x", 200*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if v, ok, _ := st.Get(ctx, "v"); !ok || v != "x" {
				t.Fatalf("get = %q %v", v, ok)
			}
			if _, ok, _ := st.Get(ctx, "missing"); ok {
				t.Fatal("a missing key was found")
			}
			// The counter's expiry is the first Add's, not extended by the second.
			eventually(t, "the counter and the value expire", func() bool {
				_, found, _ := st.Get(ctx, "v")
				c, _ := st.Add(ctx, "c", 0, time.Hour)
				return !found && c == 0
			})
			// An empty Put deletes a value and a counter.
			st.Add(ctx, "d", 3, 0)
			st.Put(ctx, "d", "", 0)
			if v, _ := st.Add(ctx, "d", 1, 0); v != 1 {
				t.Fatalf("after delete: add = %v, want a fresh counter", v)
			}
			ops := []state.Op{state.Put("b", "1", time.Minute), state.Get("b"), state.Add("n", 2, 0), state.Get("nothing")}
			if err := st.Batch(ctx, ops); err != nil {
				t.Fatal(err)
			}
			if !ops[1].OK || ops[1].Value != "1" || ops[2].Sum != 2 || ops[3].OK {
				t.Fatalf("batch = %+v", ops)
			}
		})
	}
}

func TestRedisKeysCarryThePrefixAndAHashTag(t *testing.T) {
	srv := relaytest.StartRedis(t)
	s, _ := newRedis(t, srv.URL, 1)
	ctx := context.Background()
	s.Take(ctx, "rate:a:rpm", 10, time.Minute, 1)
	s.Put(ctx, "x:{team}:budget", "1", time.Minute)
	reply, err := srv.Do("KEYS", "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"test:{rate:a:rpm}", "test:x:{team}:budget"} {
		if !strings.Contains(reply, want) {
			t.Errorf("KEYS * = %q, want %q", reply, want)
		}
	}
}

func TestRedisRunsItsScriptsAgainAfterAFlush(t *testing.T) {
	srv := relaytest.StartRedis(t)
	s, _ := newRedis(t, srv.URL, 1)
	ctx := context.Background()
	s.Take(ctx, "k", 10, time.Minute, 1)
	if _, err := srv.Do("SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := s.Take(ctx, "k", 100, time.Minute, 1); !ok || err != nil {
		t.Fatalf("take after SCRIPT FLUSH: %v %v", ok, err)
	}
	if !s.Up() || s.Fallbacks() != 0 {
		t.Fatalf("up=%v fallbacks=%d: a flushed script cache was taken for an outage", s.Up(), s.Fallbacks())
	}
}

func TestRedisFallsBackToALocalShareAndResumes(t *testing.T) {
	srv := relaytest.StartRedis(t)
	s, logs := newRedis(t, srv.URL, 3)
	ctx := context.Background()
	if !s.Up() || s.Share() != 1 {
		t.Fatalf("up=%v share=%v at start", s.Up(), s.Share())
	}
	srv.Stop()
	// The first call fails over to local state; it never errs. Hang guard only: a call is
	// bounded by the timeout.
	start := time.Now()
	if ok, _, err := s.Take(ctx, "k", 30, time.Minute, 1); !ok || err != nil {
		t.Fatalf("take with Redis down: %v %v", ok, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a call with Redis down took %s", d)
	}
	if s.Up() || s.Share() != 1.0/3 {
		t.Fatalf("up=%v share=%v with Redis down, want false and 1/3", s.Up(), s.Share())
	}
	for range 5 {
		s.Put(ctx, "v", "x", 0)
	}
	if s.Fallbacks() < 6 {
		t.Fatalf("fallbacks = %d, want every call counted", s.Fallbacks())
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d WARN lines, want one:\n%s", n, logs)
	}
	srv.Start()
	eventually(t, "the store finds Redis again", s.Up)
	if s.Share() != 1 {
		t.Fatalf("share = %v after recovery", s.Share())
	}
	s.Take(ctx, "after", 30, time.Minute, 1)
	if reply, _ := srv.Do("EXISTS", "test:{after}"); reply != ":1\r\n" {
		t.Fatalf("EXISTS after recovery = %q: counting did not resume in Redis (up=%v)\n%s", reply, s.Up(), logs)
	}
	if !strings.Contains(logs.String(), "level=INFO msg=\"shared state reachable again") {
		t.Fatalf("no INFO line on recovery:\n%s", logs)
	}
}

func TestRedisNeverLogsThePassword(t *testing.T) {
	srv := relaytest.StartRedis(t)
	url := strings.Replace(srv.URL, "redis://", "redis://nobody:hunter2-secret@", 1)
	// The server has no such user: AUTH fails, and the store starts on local state.
	s, logs := newRedis(t, url, 2)
	if s.Up() {
		t.Fatal("up with a failing AUTH")
	}
	if strings.Contains(logs.String(), "hunter2") || strings.Contains(s.Address(), "hunter2") {
		t.Fatalf("the password reached the log or the address:\n%s\n%s", logs, s.Address())
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("no WARN line:\n%s", logs)
	}
	if _, err := state.NewRedis(state.RedisOptions{URL: "redis://:hunter2@host:port/x"}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("bad URL: err = %v", err)
	}
}

func TestRedisThatDoesNotAnswerCostsOneTimeout(t *testing.T) {
	srv := relaytest.StartRedis(t)
	logs := &relaytest.LogBuffer{}
	s, err := state.NewRedis(state.RedisOptions{URL: srv.URL, Instances: 2, Timeout: 50 * time.Millisecond,
		ProbeEvery: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv.Pause()
	defer srv.Resume()
	ctx := context.Background()
	// The first call waits for the timeout, then serves from local state; the next ones do not
	// call Redis at all. (Hang guard only.)
	start := time.Now()
	for range 20 {
		if ok, _, err := s.Take(ctx, "k", 100, time.Minute, 1); !ok || err != nil {
			t.Fatalf("take: %v %v", ok, err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("20 calls to a Redis that does not answer took %s", d)
	}
	if s.Up() || s.Share() != 0.5 {
		t.Fatalf("up=%v share=%v, want unreachable and 1/2", s.Up(), s.Share())
	}
	// The local share: 10 per minute divided by 2 instances is 5 (the caller scales).
	n := 0
	for range 10 {
		if ok, _, _ := s.Take(ctx, "scaled", state.Scale(10, s.Share()), time.Minute, 1); ok {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("%d of 10 fit in the local share, want 5", n)
	}
	srv.Resume()
	eventually(t, "the store finds Redis again", s.Up)
}
