package relay_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ccrelay/ccrelay/relay"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// records keeps what the relay accounts.
type records struct {
	mu  sync.Mutex
	all []relay.Record
}

func (r *records) Observe(rec *relay.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *rec
	c.Attempts = append([]relay.Attempt(nil), rec.Attempts...)
	c.Degraded = append([]string(nil), rec.Degraded...)
	r.all = append(r.all, c)
}

func TestEachFinishedRequestIsAccountedOnce(t *testing.T) {
	const cached = `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":8,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":3}}`
	up := relaytest.NewUpstream(t, relaytest.Instant(cached))
	cfg := configWith(
		keyed(providerFor(config.TypeAnthropic, "down", relaytest.RefusedURL(t)), 2, "k1"),
		keyed(providerFor(config.TypeAnthropic, "up", up.URL), 1, "k2"),
	)
	cfg.Routing.Strategy = "failover"
	obs := &records{}
	r, err := relay.New(context.Background(), relay.Options{Config: cfg, Observers: []relay.Observer{obs}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	post(t, srv.URL+"/v1/messages", []byte(okBody), map[string]string{"X-Claude-Code-Session-Id": "sess-1"})
	post(t, srv.URL+"/v1/messages", []byte(`{"model":`), nil)

	want := []relay.Record{
		{Method: "POST", Path: "/v1/messages", Status: 200, Model: "claude-sonnet-4-5", UpstreamModel: "claude-sonnet-4-5",
			Provider: "up", Session: "sess-1",
			Tokens:   relay.Tokens{Input: 8, Output: 3, CacheRead: 2000, CacheCreation: 100, Known: true},
			Attempts: []relay.Attempt{{Provider: "down", Key: 0, Outcome: "unreachable"}, {Provider: "up", Key: 0, Outcome: "ok", Status: 200}}},
		{Method: "POST", Path: "/v1/messages", Status: 400},
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if diff := cmp.Diff(want, obs.all, cmpopts.IgnoreFields(relay.Record{}, "Time", "ID", "Duration", "TTFB"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	for _, rec := range obs.all {
		if rec.TTFB <= 0 || rec.TTFB > rec.Duration || !strings.HasPrefix(rec.ID, "req_") {
			t.Errorf("record %s: ttfb %s, duration %s", rec.ID, rec.TTFB, rec.Duration)
		}
	}
}
