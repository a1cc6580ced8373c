package state

import (
	"context"
	"testing"
	"time"
)

func TestLocalTakeGCRA(t *testing.T) {
	now := time.Unix(1000, 0)
	s := NewLocal(func() time.Time { return now })
	ctx := context.Background()
	// 30 per minute, burst 30: 30 fit at once, the 31st waits one interval (2s).
	for i := range 30 {
		if ok, _, _ := s.Take(ctx, "k", 30, time.Minute, 1); !ok {
			t.Fatalf("take %d refused", i)
		}
	}
	ok, wait, _ := s.Take(ctx, "k", 30, time.Minute, 1)
	if ok || wait != 2*time.Second {
		t.Fatalf("31st: ok=%v wait=%v, want refused with 2s", ok, wait)
	}
	now = now.Add(2 * time.Second)
	if ok, _, _ := s.Take(ctx, "k", 30, time.Minute, 1); !ok {
		t.Fatal("after one interval: refused")
	}
	// A refund gives a unit back.
	if ok, _, _ := s.Take(ctx, "k", 30, time.Minute, -1); !ok {
		t.Fatal("refund refused")
	}
	if ok, _, _ := s.Take(ctx, "k", 30, time.Minute, 1); !ok {
		t.Fatal("after refund: refused")
	}
}

func TestLocalAddPutExpire(t *testing.T) {
	now := time.Unix(1000, 0)
	s := NewLocal(func() time.Time { return now })
	ctx := context.Background()
	if v, _ := s.Add(ctx, "c", 1.5, time.Minute); v != 1.5 {
		t.Fatalf("add = %v", v)
	}
	if v, _ := s.Add(ctx, "c", 1, time.Hour); v != 2.5 {
		t.Fatalf("add = %v", v)
	}
	_ = s.Put(ctx, "v", "x", time.Minute)
	if v, ok, _ := s.Get(ctx, "v"); !ok || v != "x" {
		t.Fatalf("get = %q %v", v, ok)
	}
	now = now.Add(time.Minute)
	if v, _ := s.Add(ctx, "c", 1, 0); v != 1 {
		t.Fatalf("add after expiry = %v, want a fresh counter", v)
	}
	if _, ok, _ := s.Get(ctx, "v"); ok {
		t.Fatal("value outlived its ttl")
	}
}
