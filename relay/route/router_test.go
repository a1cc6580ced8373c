package route

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ccrelay/ccrelay/relay/config"
)

// cands builds candidates from "name:priority:weight" strings.
func cands(specs ...string) []Candidate {
	var out []Candidate
	for _, s := range specs {
		var c Candidate
		parts := strings.Split(s, ":")
		c.Name = parts[0]
		if len(parts) > 1 {
			fmt.Sscan(parts[1], &c.Priority)
		}
		if len(parts) > 2 {
			fmt.Sscan(parts[2], &c.Weight)
		}
		out = append(out, c)
	}
	return out
}

func newRouter(strategy string, cs []Candidate) *Router {
	return NewRouter(config.Routing{Strategy: strategy}, cs, newFakeClock().Now, rand.New(rand.NewPCG(1, 2)))
}

func TestOrder(t *testing.T) {
	modelBased := config.Routing{
		Strategy: config.StrategyModelBased,
		ModelBased: map[string][]string{
			"claude":          {"zai"},
			"claude-opus":     {"bedrock", "anthropic"},
			"claude-opus-5-5": {"vertex", "not-allowed", "bedrock"},
			"glm":             {"zai", "minimax"},
		},
		DefaultProvider: "minimax",
	}
	all := cands("anthropic:1", "bedrock:5", "vertex:5", "zai:0", "minimax:9")
	names := []string{"anthropic", "bedrock", "vertex", "zai", "minimax"}
	tests := []struct {
		name      string
		cfg       config.Routing
		model     string
		allowed   []string
		preferred string
		want      []string
	}{
		{"failover orders by priority, config order on ties", config.Routing{}, "m", names, "",
			[]string{"minimax", "bedrock", "vertex", "anthropic", "zai"}},
		{"failover returns only allowed providers, each once", config.Routing{Strategy: config.StrategyFailover}, "m",
			[]string{"zai", "vertex", "zai", "anthropic"}, "", []string{"vertex", "anthropic", "zai"}},
		{"an unknown allowed provider has priority 0", config.Routing{}, "m", []string{"zai", "other", "anthropic"}, "",
			[]string{"anthropic", "zai", "other"}},
		{"nothing allowed, nothing returned", config.Routing{}, "m", nil, "", []string{}},
		{"an unknown strategy is failover", config.Routing{Strategy: "fastest"}, "m", names, "",
			[]string{"minimax", "bedrock", "vertex", "anthropic", "zai"}},
		{"the preferred provider goes first", config.Routing{}, "m", names, "zai",
			[]string{"zai", "minimax", "bedrock", "vertex", "anthropic"}},
		{"a preferred provider that is not allowed is ignored", config.Routing{}, "m", []string{"anthropic", "bedrock"}, "zai",
			[]string{"bedrock", "anthropic"}},
		{"model_based: the longest prefix wins", modelBased, "claude-opus-5-5-20261101", names, "",
			[]string{"vertex", "bedrock", "minimax", "anthropic", "zai"}},
		{"model_based: a shorter prefix", modelBased, "claude-opus-4-6", names, "",
			[]string{"bedrock", "anthropic", "minimax", "vertex", "zai"}},
		{"model_based: the shortest prefix", modelBased, "claude-haiku-5-5", names, "",
			[]string{"zai", "minimax", "bedrock", "vertex", "anthropic"}},
		{"model_based: no prefix → default provider, then the rest by priority", modelBased, "gpt-9", names, "",
			[]string{"minimax", "bedrock", "vertex", "anthropic", "zai"}},
		{"model_based: mapped providers that are not allowed are skipped", modelBased, "claude-opus-5-5",
			[]string{"anthropic", "zai"}, "", []string{"anthropic", "zai"}},
		{"model_based: a prefix is not a substring", modelBased, "my-claude", []string{"anthropic", "zai"}, "",
			[]string{"anthropic", "zai"}},
		{"model_based: the preferred provider still goes first", modelBased, "glm-5", names, "anthropic",
			[]string{"anthropic", "zai", "minimax", "bedrock", "vertex"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRouter(tc.cfg, all, newFakeClock().Now, nil)
			got := r.Order(tc.model, tc.allowed, tc.preferred)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOrderDoesNotWriteToAllowed(t *testing.T) {
	for _, s := range config.Strategies {
		r := newRouter(s, cands("a:1:3", "b:2:1", "c:3:2"))
		allowed := []string{"a", "b", "c"}
		for range 10 {
			r.Order("m", allowed, "c")
		}
		if diff := cmp.Diff([]string{"a", "b", "c"}, allowed); diff != "" {
			t.Errorf("%s: allowed changed (-want +got):\n%s", s, diff)
		}
	}
}

func TestRoundRobinRotatesEvenly(t *testing.T) {
	r := newRouter(config.StrategyRoundRobin, cands("a", "b", "c"))
	allowed := []string{"a", "b", "c"}
	want := [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}}
	var got [][]string
	for range want {
		got = append(got, r.Order("m", allowed, ""))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("orders (-want +got):\n%s", diff)
	}
	counts := map[string]int{}
	for range 2999 { // starting from b
		counts[r.Order("m", allowed, "")[0]]++
	}
	if diff := cmp.Diff(map[string]int{"a": 999, "b": 1000, "c": 1000}, counts); diff != "" {
		t.Errorf("first picks (-want +got):\n%s", diff)
	}
}

func TestWeightedRoundRobin(t *testing.T) {
	t.Run("interleaves smoothly, as nginx does", func(t *testing.T) {
		r := newRouter(config.StrategyWeightedRoundRobin, cands("a:0:5", "b:0:1", "c:0:1"))
		var got []string
		for range 14 {
			got = append(got, r.Order("m", []string{"a", "b", "c"}, "")[0])
		}
		want := strings.Split("a a b a c a a a a b a c a a", " ")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("first picks (-want +got):\n%s", diff)
		}
	})
	t.Run("is proportional in every window of one cycle", func(t *testing.T) {
		r := newRouter(config.StrategyWeightedRoundRobin, cands("a:0:4", "b:0:3", "c:0:2", "d:0:0"))
		weights := map[string]int{"a": 4, "b": 3, "c": 2, "d": 1}
		var picks []string
		for range 100 * 10 {
			order := r.Order("m", []string{"a", "b", "c", "d"}, "")
			if len(order) != 4 {
				t.Fatalf("Order = %v, want all four providers", order)
			}
			picks = append(picks, order[0])
		}
		for start := 0; start+10 <= len(picks); start++ {
			counts := map[string]int{}
			for _, p := range picks[start : start+10] {
				counts[p]++
			}
			for n, w := range weights {
				// Smooth WRR keeps every sliding window within one pick of the exact share.
				if d := counts[n] - w; d < -1 || d > 1 {
					t.Fatalf("window at %d: %v, want about %v", start, counts, weights)
				}
			}
		}
	})
	t.Run("only allowed providers share the turns", func(t *testing.T) {
		r := newRouter(config.StrategyWeightedRoundRobin, cands("a:0:5", "b:0:1", "c:0:1"))
		counts := map[string]int{}
		for range 200 {
			counts[r.Order("m", []string{"b", "c"}, "")[0]]++
		}
		if diff := cmp.Diff(map[string]int{"b": 100, "c": 100}, counts); diff != "" {
			t.Errorf("first picks (-want +got):\n%s", diff)
		}
	})
}

func TestShuffleCoversPermutationsUniformly(t *testing.T) {
	for _, n := range []int{3, 4} {
		names := []string{"a", "b", "c", "d"}[:n]
		r := newRouter(config.StrategyShuffle, cands(names...))
		perms := 1
		for i := 2; i <= n; i++ {
			perms *= i
		}
		trials := 500 * perms
		counts := map[string]int{}
		for range trials {
			counts[strings.Join(r.Order("m", names, ""), "")]++
		}
		if len(counts) != perms {
			t.Fatalf("n=%d: saw %d permutations, want %d", n, len(counts), perms)
		}
		exp := float64(trials) / float64(perms)
		chi2 := 0.0
		for _, c := range counts {
			chi2 += (float64(c) - exp) * (float64(c) - exp) / exp
		}
		// Loose bound: the 99.9th percentile of chi-square is 20.5 for 5 and 49.7 for 23
		// degrees of freedom.
		if limit := map[int]float64{3: 20.5, 4: 49.7}[n]; chi2 > limit {
			t.Errorf("n=%d: chi-square %.1f over %d permutations, want ≤ %.1f: %v", n, chi2, perms, limit, counts)
		}
	}
}

func TestLeastLoaded(t *testing.T) {
	loads := map[string]int{"a": 3, "b": 0, "c": 7, "d": 0}
	var cs []Candidate
	for _, n := range []string{"a", "b", "c", "d"} {
		cs = append(cs, Candidate{Name: n, InFlight: func() int { return loads[n] }})
	}
	cs = append(cs, Candidate{Name: "e"}) // no load function: 0
	r := newRouter(config.StrategyLeastLoaded, cs)
	if diff := cmp.Diff([]string{"b", "d", "e", "a", "c"}, r.Order("m", []string{"a", "b", "c", "d", "e"}, "")); diff != "" {
		t.Errorf("Order (-want +got):\n%s", diff)
	}
	loads["b"], loads["c"] = 9, 1
	if diff := cmp.Diff([]string{"d", "c", "a", "b"}, r.Order("m", []string{"a", "b", "c", "d"}, "")); diff != "" {
		t.Errorf("Order after loads changed (-want +got):\n%s", diff)
	}
}

func BenchmarkOrder(b *testing.B) {
	for _, s := range config.Strategies {
		b.Run(s, func(b *testing.B) {
			r := newRouter(s, cands("a:1:3", "b:2:1", "c:3:2", "d:0:1"))
			allowed := []string{"a", "b", "c", "d"}
			b.ReportAllocs()
			for b.Loop() {
				r.Order("claude-opus-5-5", allowed, "b")
			}
		})
	}
}
