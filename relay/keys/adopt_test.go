package keys

import (
	"net/http"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
)

func TestAdoptKeepsTheStateOfKeysWithTheSameSecret(t *testing.T) {
	clk := newFakeClock()
	old := NewPool("p", []config.Key{{Key: "a", RPMLimit: 2}, {Key: "b"}, {Key: "c"}}, "", clk.Now)
	// a: both requests of its minute used; b: cooling down after a 429; c: rejected.
	for range 2 {
		l, err := old.LeasePrefer(0, 0)
		if err != nil || l.Index() != 0 {
			t.Fatalf("lease a: %v", err)
		}
		l.Release(Outcome{Status: 200, Usage: 0})
	}
	lb, _ := old.LeasePrefer(0, 1)
	lb.Release(Outcome{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"30"}}, Usage: -1})
	lc, _ := old.LeasePrefer(0, 2)
	lc.Release(Outcome{Status: http.StatusUnauthorized, Usage: -1})

	// The new configuration drops c, keeps a and b (b now first) and adds d.
	p := NewPool("p", []config.Key{{Key: "b"}, {Key: "a", RPMLimit: 2}, {Key: "d"}}, "", clk.Now)
	p.Adopt(old)
	snap := p.Snapshot()
	if snap[0].Available || snap[0].Disabled {
		t.Errorf("b lost its cooldown: %+v", snap[0])
	}
	if snap[1].Available {
		t.Errorf("a lost its used rpm bucket: %+v", snap[1])
	}
	if !snap[2].Available {
		t.Errorf("the new key d is not available: %+v", snap[2])
	}
	// A changed limit starts a fresh bucket.
	q := NewPool("p", []config.Key{{Key: "a", RPMLimit: 10}}, "", clk.Now)
	q.Adopt(old)
	if s := q.Snapshot(); !s[0].Available {
		t.Errorf("a with a new rpm limit kept the old bucket: %+v", s[0])
	}
	// A rejected key keeps its rejection.
	r := NewPool("p", []config.Key{{Key: "c"}}, "", clk.Now)
	r.Adopt(old)
	if s := r.Snapshot(); !s[0].Disabled || s[0].DisabledUntil == nil {
		t.Errorf("c lost its rejection: %+v", s[0])
	}
	clk.Advance(31 * time.Second)
	if s := p.Snapshot(); !s[0].Available {
		t.Errorf("b is still cooling after its retry-after: %+v", s[0])
	}
}
