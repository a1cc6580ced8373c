package route

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestAffinity(t *testing.T) {
	clk := newFakeClock()
	a := NewAffinity(3, time.Hour, clk.Now)
	a.Set("s1", Binding{Provider: "anthropic", Key: 2})
	a.Set("s2", Binding{Provider: "bedrock", Key: -1})
	a.Set("", Binding{Provider: "ignored"})
	if got, ok := a.Get("s1"); !ok || got != (Binding{Provider: "anthropic", Key: 2}) {
		t.Fatalf("Get(s1) = %+v %v", got, ok)
	}
	if _, ok := a.Get(""); ok {
		t.Error("the empty session has a binding")
	}

	t.Run("the least recently used session goes when full", func(t *testing.T) {
		a.Set("s3", Binding{Provider: "zai"})
		a.Get("s1") // s2 is now the least recently used
		a.Set("s4", Binding{Provider: "vertex"})
		if _, ok := a.Get("s2"); ok {
			t.Error("s2 survived eviction")
		}
		for _, s := range []string{"s1", "s3", "s4"} {
			if _, ok := a.Get(s); !ok {
				t.Errorf("%s was evicted", s)
			}
		}
		if a.Len() != 3 {
			t.Errorf("Len = %d, want 3", a.Len())
		}
	})
	t.Run("a session expires ttl after its last Set", func(t *testing.T) {
		clk.Advance(59 * time.Minute)
		a.Set("s1", Binding{Provider: "anthropic", Key: 0}) // rebinding refreshes
		clk.Advance(time.Minute)
		if _, ok := a.Get("s3"); ok {
			t.Error("s3 outlived its ttl")
		}
		if got, ok := a.Get("s1"); !ok || got.Key != 0 {
			t.Errorf("Get(s1) = %+v %v, want the refreshed binding", got, ok)
		}
		a.Forget("s1")
		if _, ok := a.Get("s1"); ok {
			t.Error("s1 survived Forget")
		}
	})
	t.Run("defaults", func(t *testing.T) {
		d := NewAffinity(0, 0, nil)
		if d.c.size != DefaultAffinitySize || d.c.ttl != DefaultAffinityTTL {
			t.Errorf("size %d ttl %v, want %d %v", d.c.size, d.c.ttl, DefaultAffinitySize, DefaultAffinityTTL)
		}
	})
}

func TestAffinityConcurrent(t *testing.T) {
	a := NewAffinity(100, time.Minute, nil)
	var wg sync.WaitGroup
	for g := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				s := fmt.Sprint((g * i) % 150)
				a.Set(s, Binding{Provider: s})
				if b, ok := a.Get(s); ok && b.Provider != s {
					t.Errorf("Get(%s) = %+v", s, b)
				}
			}
		}()
	}
	wg.Wait()
	if a.Len() > 100 {
		t.Errorf("Len = %d, want ≤ 100", a.Len())
	}
}

func TestSessionKey(t *testing.T) {
	// metadata.user_id as Claude Code 2.1.332 sends it (from the recorded traffic).
	userID := `{"device_id":"3d5d9971d1cd8549a354d4b083a492c63816bf5160f491f39db17857377246de","account_uuid":"","session_id":"7fc5fa69-d07f-4d8f-936c-94835df9c42e"}`
	tests := []struct {
		name   string
		header http.Header
		userID string
		want   string
	}{
		{"the session header", http.Header{"X-Claude-Code-Session-Id": {"7fc5fa69-d07f-4d8f-936c-94835df9c42e"}}, userID, "7fc5fa69-d07f-4d8f-936c-94835df9c42e"},
		{"the session id inside user_id", http.Header{}, userID, "7fc5fa69-d07f-4d8f-936c-94835df9c42e"},
		{"a plain user_id", nil, "user_abc", "user:user_abc"},
		{"JSON without a session id", nil, `{"device_id":"d"}`, `user:{"device_id":"d"}`},
		{"nothing", http.Header{}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SessionKey(tc.header, tc.userID); got != tc.want {
				t.Errorf("SessionKey = %q, want %q", got, tc.want)
			}
		})
	}
}
