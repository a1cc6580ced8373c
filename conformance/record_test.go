package conformance

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
	"gopkg.in/dnaeon/go-vcr.v2/cassette"
)

// secretKey is the provider key of the recording tests; it must never reach a cassette.
const secretKey = "test-secret-provider-key-0123456789"

// recordOptions records the anthropic text-basic case against a local upstream.
func recordOptions(t *testing.T, upstream, dir string) Options {
	t.Helper()
	cfg := &config.Config{Providers: []config.Provider{{
		Name: "anthropic", Type: "anthropic", BaseURL: upstream,
		Keys:         []config.Key{{Key: secretKey}},
		ModelMapping: map[string]string{"claude-sonnet-4-5": "claude-sonnet-4-20250514"},
	}}}
	cfg.ApplyDefaults()
	return Options{
		Providers: []string{"anthropic"}, Case: "text-basic",
		Record: true, Dir: dir, Config: cfg,
		Requests: os.DirFS(filepath.Join("..", "fixtures", "requests")),
		Now:      func() time.Time { return time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC) },
	}
}

func TestRecordWritesScrubbedCassetteThatReplays(t *testing.T) {
	ix := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/fantasy/claude-sonnet-4.simple.0.json"))
	up := relaytest.NewUpstream(t, relaytest.Replay(ix))
	dir := t.TempDir()
	var progress bytes.Buffer
	opts := recordOptions(t, up.URL, dir)
	opts.Progress = &progress

	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Providers[0].Results[0]
	if r.Status != Pass {
		t.Fatalf("recording failed: %v", r.Failures())
	}
	if !strings.Contains(progress.String(), "anthropic/text-basic: recording") {
		t.Errorf("no progress line: %q", progress.String())
	}
	got := up.Requests()
	if len(got) != 1 || got[0].Header.Get("X-Api-Key") != secretKey {
		t.Fatalf("the upstream did not get one request with the provider key: %+v", got)
	}
	data, err := os.ReadFile(filepath.Join(dir, "anthropic", "text-basic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{"# provenance: recorded-live", "2026-11-26T08:00:00Z", "ccrelay conform --record --provider anthropic --case text-basic", "REDACTED", "claude-sonnet-4-20250514"} {
		if !strings.Contains(s, want) {
			t.Errorf("cassette lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, secretKey) || strings.Contains(s, clientKey) {
		t.Errorf("cassette holds a credential:\n%s", s)
	}
	if r.Provenance.Kind != ProvenanceLive {
		t.Errorf("replayed provenance %q", r.Provenance.Kind)
	}
}

func TestRecordNeverReplacesAGoodCassetteWithAFailedOne(t *testing.T) {
	ix := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/fantasy/claude-sonnet-4.simple.0.json"))
	good := relaytest.NewUpstream(t, relaytest.Replay(ix))
	dir := t.TempDir()
	if _, err := Run(context.Background(), recordOptions(t, good.URL, dir)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "anthropic", "text-basic.yaml")
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	broken := relaytest.NewUpstream(t, relaytest.Status(http.StatusInternalServerError,
		http.Header{"Content-Type": {"application/json"}}, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`))
	rep, err := Run(context.Background(), recordOptions(t, broken.URL, dir))
	if err != nil {
		t.Fatal(err)
	}
	mustFail(t, rep.Providers[0].Results[0], "kept (use --force")
	after, _ := os.ReadFile(file)
	if !bytes.Equal(before, after) {
		t.Fatal("a failed recording replaced the good cassette")
	}

	opts := recordOptions(t, broken.URL, dir)
	opts.Force = true
	if _, err := Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	forced, _ := os.ReadFile(file)
	if !strings.Contains(string(forced), "code: 500") {
		t.Fatalf("--force did not write the failed recording:\n%s", forced)
	}
}

func TestRecordCannotProvokeRateLimits(t *testing.T) {
	opts := recordOptions(t, "http://127.0.0.1:1", t.TempDir())
	opts.Case = "error-rate-limited"
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Providers[0].Results[0]; r.Status != Skipped || !strings.Contains(r.Skipped, "cannot be provoked") {
		t.Fatalf("got %s %q, want skipped", r.Status, r.Skipped)
	}
}

func TestScrubFilter(t *testing.T) {
	p := config.Provider{Type: "vertex", GCPProjectID: "acme-prod-4711", Keys: []config.Key{{Key: secretKey}},
		AWSSecretAccessKey: "aws-secret-value-123456"}
	s := newScrubber(p)
	s.addSecret("ya29.live-google-access-token")
	ix := &cassette.Interaction{
		Request: cassette.Request{
			URL: "https://us-east5-aiplatform.googleapis.com/v1/projects/acme-prod-4711/locations/us-east5/publishers/anthropic/models/m:rawPredict",
			Headers: http.Header{
				"Authorization":        {"Bearer ya29.live-google-access-token"},
				"X-Api-Key":            {secretKey},
				"X-Amz-Date":           {"20261126T080000Z"},
				"X-Amz-Security-Token": {"token"},
				"Cookie":               {"session=1"},
				"Anthropic-Version":    {"2023-06-01"},
			},
			Body: `{"note":"echo ` + secretKey + ` and arn:aws:bedrock:us-east-1:123456789012:inference-profile/x"}`,
		},
		Response: cassette.Response{
			Headers: http.Header{"Set-Cookie": {"a=b"}, "Anthropic-Organization-Id": {"6f1d..."}, "Request-Id": {"req_1"}},
			Body:    `{"error":{"message":"project acme-prod-4711 token ya29.live-google-access-token"}}`,
		},
	}
	if err := s.filter(ix); err != nil {
		t.Fatal(err)
	}
	all := ix.Request.URL + ix.Request.Body + ix.Response.Body + headerString(ix.Request.Headers) + headerString(ix.Response.Headers)
	for _, leak := range []string{secretKey, "ya29.live", "acme-prod-4711", "123456789012", "20261126T080000Z", "session=1", "a=b", "6f1d"} {
		if strings.Contains(all, leak) {
			t.Errorf("%q survived the scrub: %s", leak, all)
		}
	}
	for _, want := range []string{"/projects/example-project/", "arn:aws:bedrock:us-east-1:000000000000:", "Authorization: REDACTED", "X-Api-Key: REDACTED", "Anthropic-Version: 2023-06-01", "Request-Id: req_1"} {
		if !strings.Contains(all, want) {
			t.Errorf("scrubbed interaction lacks %q: %s", want, all)
		}
	}
}

func TestScrubRefusesSecretsInBinaryBodies(t *testing.T) {
	s := newScrubber(config.Provider{Keys: []config.Key{{Key: secretKey}}})
	ix := &cassette.Interaction{Response: cassette.Response{Body: "\x00\x00\xff" + secretKey}}
	if err := s.filter(ix); err == nil {
		t.Fatal("a binary body with a secret was accepted")
	}
}

func headerString(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		for _, v := range vs {
			b.WriteString(" " + k + ": " + v)
		}
	}
	return b.String()
}

func TestRecordReportsDrift(t *testing.T) {
	// An upstream that ignores stop sequences, while the matrix says anthropic honours them.
	ix := relaytest.MustLoad(t, relaytest.Fixture(t, "anthropic/fantasy/claude-sonnet-4.simple_streaming.0.json"))
	up := relaytest.NewUpstream(t, relaytest.Replay(ix))
	dir := t.TempDir()
	opts := recordOptions(t, up.URL, dir)
	opts.Case = "stop-sequence"
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Drift) != 1 || rep.Drift[0].Feature != "stop_sequences" || rep.Drift[0].Observed != "partial" {
		t.Fatalf("drift %+v, want stop_sequences observed partial", rep.Drift)
	}
	if !strings.Contains(rep.Drift[0].Detail, "anthropic no longer supports stop_sequences as declared") {
		t.Errorf("drift detail %q", rep.Drift[0].Detail)
	}
	if _, err := os.Stat(filepath.Join(dir, "anthropic", "stop-sequence.yaml")); err != nil {
		t.Errorf("a recording that shows drift was not written: %v", err)
	}
	mustFail(t, rep.Providers[0].Results[0], "declares full")
	var b bytes.Buffer
	if err := rep.Write(&b, FormatText); err != nil || !strings.Contains(b.String(), "drift: where the recordings differ from the matrix (declared vs observed)") {
		t.Errorf("text report lacks the drift section (%v):\n%s", err, b.String())
	}
}
