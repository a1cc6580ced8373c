package relay_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/relaytest"
)

// Client keys of the tests. The configuration holds only their digests.
const (
	aliceSecret = "ccr_alice0123456789abcdefghijklmnopqrstuvwxyzAB"
	bobSecret   = "ccr_bob0123456789abcdefghijklmnopqrstuvwxyzABCD"
)

// pricedAnswer is a hand-made Anthropic message (not recorded traffic) whose usage costs
// $0.60 at claude-sonnet-4-5's list price ($3 and $15 per million tokens).
const pricedAnswer = `{"id":"msg_01hand","type":"message","role":"assistant","model":"claude-sonnet-4-5",` +
	`"content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,` +
	`"usage":{"input_tokens":100000,"output_tokens":20000}}`

// upstreamSeen is a fake Anthropic upstream answering pricedAnswer that remembers the
// Authorization and x-api-key of each request.
type upstreamSeen struct {
	mu    sync.Mutex
	auth  []string
	block chan struct{} // when set, each request waits for it to close
	in    chan struct{} // told of each request's arrival, when set
}

func (u *upstreamSeen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	u.mu.Lock()
	u.auth = append(u.auth, r.Header.Get("Authorization")+"|"+r.Header.Get("X-Api-Key"))
	block, in := u.block, u.in
	u.mu.Unlock()
	if in != nil {
		in <- struct{}{}
	}
	if block != nil {
		<-block
	}
	relaytest.Instant(pricedAnswer).ServeHTTP(w, r)
}

func (u *upstreamSeen) seen() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.auth...)
}

// keyedConfig is one anthropic provider behind the client keys.
func keyedConfig(upURL string, keys ...config.ClientKey) *config.Config {
	cfg := configWith(providerFor(config.TypeAnthropic, "anthropic", upURL, "upstream-key"))
	cfg.Server.Auth.Keys = keys
	return cfg
}

// alice is a client key configured by its digest.
func alice(k config.ClientKey) config.ClientKey {
	k.Name, k.KeySHA256 = "alice", config.SecretDigest(aliceSecret)
	return k
}

func bob() config.ClientKey {
	return config.ClientKey{Name: "bob", KeySHA256: config.SecretDigest(bobSecret)}
}

// ask sends one small non-streamed request with the SDK; opts set the credentials.
func askAs(base, model string, opts ...option.RequestOption) (*anthropic.Message, *anthropic.Error, error) {
	client := sdkClient(base, opts...)
	msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: anthropic.Model(model), MaxTokens: 16,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	var apiErr *anthropic.Error
	if err != nil && asAPIError(err, &apiErr) {
		return nil, apiErr, nil
	}
	return msg, nil, err
}

// withCredentials sends apiKey as x-api-key and bearer as Authorization: Bearer, each only
// when not empty, in place of the SDK's own credential headers (the SDK sends one kind).
func withCredentials(apiKey, bearer string) option.RequestOption {
	return option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		req.Header.Del("X-Api-Key")
		req.Header.Del("Authorization")
		if apiKey != "" {
			req.Header.Set("X-Api-Key", apiKey)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		return next(req)
	})
}

// asKey sends secret as x-api-key only.
func asKey(secret string) option.RequestOption { return withCredentials(secret, "") }

// asBearer sends secret as Authorization: Bearer only.
func asBearer(secret string) option.RequestOption { return withCredentials("", secret) }

// refusal is what a client sees of a refused request.
type refusal struct {
	status     int
	typ        string
	says       []string
	retryAfter string // "" when none is expected
}

// wantRefusal checks the SDK's error against want.
func wantRefusal(t *testing.T, apiErr *anthropic.Error, err error, want refusal) {
	t.Helper()
	if apiErr == nil {
		t.Fatalf("err = %v, want a %d %s", err, want.status, want.typ)
	}
	if apiErr.StatusCode != want.status || string(apiErr.Type()) != want.typ {
		t.Fatalf("got %d %s (%s), want %d %s", apiErr.StatusCode, apiErr.Type(), apiErr.RawJSON(), want.status, want.typ)
	}
	for _, s := range want.says {
		if !strings.Contains(apiErr.Message, s) {
			t.Errorf("message %q does not say %q", apiErr.Message, s)
		}
	}
	if got := apiErr.Response.Header.Get("Retry-After"); got != want.retryAfter {
		t.Errorf("retry-after = %q, want %q", got, want.retryAfter)
	}
	for _, secret := range []string{aliceSecret, bobSecret} {
		if strings.Contains(apiErr.RawJSON(), secret) {
			t.Errorf("the answer holds a client key")
		}
	}
}

func TestClientKeyAnswersAsTheSDKSeesThem(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	tests := []struct {
		name  string
		key   config.ClientKey
		first int // requests that succeed first
		model string
		opts  []option.RequestOption
		want  refusal
	}{
		{
			name: "no key at all", key: alice(config.ClientKey{}), model: "claude-sonnet-4-5",
			opts: []option.RequestOption{withCredentials("", "")},
			want: refusal{status: 401, typ: "authentication_error", says: []string{"missing credentials", "server.auth.keys", "x-api-key or Authorization: Bearer"}},
		},
		{
			name: "an unknown key", key: alice(config.ClientKey{}), model: "claude-sonnet-4-5",
			opts: []option.RequestOption{asKey("ccr_not-a-key-of-this-relay")},
			want: refusal{status: 401, typ: "authentication_error", says: []string{"invalid x-api-key", "server.auth.keys"}},
		},
		{
			name: "a key that differs from a configured one in its last character", key: alice(config.ClientKey{}), model: "claude-sonnet-4-5",
			opts: []option.RequestOption{asKey(aliceSecret[:len(aliceSecret)-1] + "C")},
			want: refusal{status: 401, typ: "authentication_error", says: []string{"invalid x-api-key"}},
		},
		{
			name: "an expired key (a date: valid through that day, UTC)", model: "claude-sonnet-4-5",
			key:  alice(config.ClientKey{Expires: mustExpiry(t, "2026-05-31")}),
			opts: []option.RequestOption{asKey(aliceSecret)},
			want: refusal{status: 401, typ: "authentication_error", says: []string{`client key "alice" expired at the end of 2026-05-31 (UTC)`, "server.auth.keys[name=alice].expires"}},
		},
		{
			name: "an expired key (a date and time)", model: "claude-sonnet-4-5",
			key:  alice(config.ClientKey{Expires: mustExpiry(t, "2026-06-01T13:00:00+02:00")}),
			opts: []option.RequestOption{asKey(aliceSecret)},
			want: refusal{status: 401, typ: "authentication_error", says: []string{`client key "alice" expired at 2026-06-01T11:00:00Z`}},
		},
		{
			name: "a model outside the key's patterns", model: "claude-opus-4-5",
			key:  alice(config.ClientKey{Models: []string{"claude-sonnet-*", "claude-haiku-*"}}),
			opts: []option.RequestOption{asKey(aliceSecret)},
			want: refusal{status: 403, typ: "permission_error", says: []string{`client key "alice" may not use model "claude-opus-4-5"`, "claude-sonnet-*, claude-haiku-*"}},
		},
		{
			name: "over rpm_limit", model: "claude-sonnet-4-5", first: 2,
			key:  alice(config.ClientKey{RPMLimit: 2}),
			opts: []option.RequestOption{asKey(aliceSecret)},
			want: refusal{status: 429, typ: "rate_limit_error", says: []string{`client key "alice" is over its rpm_limit of 2 requests per minute; retry in 30s`}, retryAfter: "30"},
		},
		{
			// The first request is estimated at a few tokens and used 120000: the bucket is
			// charged all it has room for, a full minute (the rest is forgiven), and the
			// next small request fits again a second later.
			name: "over tpm_limit once the real usage is counted", model: "claude-sonnet-4-5", first: 1,
			key:  alice(config.ClientKey{TPMLimit: 1000}),
			opts: []option.RequestOption{asKey(aliceSecret)},
			want: refusal{status: 429, typ: "rate_limit_error", says: []string{`client key "alice" is over its tpm_limit of 1000 tokens per minute`, "estimated at"}, retryAfter: "1"},
		},
		{
			name: "over the daily budget", model: "claude-sonnet-4-5", first: 2,
			key:  alice(config.ClientKey{BudgetUSD: config.Budget{Daily: 1}}),
			opts: []option.RequestOption{asKey(aliceSecret)},
			want: refusal{status: 402, typ: "billing_error", says: []string{`client key "alice" has spent $1.2000 of its daily budget of $1.00`, "budget_usd.daily", "resets at 2026-06-02T00:00:00Z (midnight UTC)"}},
		},
		{
			name: "over the monthly budget", model: "claude-sonnet-4-5", first: 1,
			key:  alice(config.ClientKey{BudgetUSD: config.Budget{Daily: 10, Monthly: 0.5}}),
			opts: []option.RequestOption{asKey(aliceSecret)},
			want: refusal{status: 402, typ: "billing_error", says: []string{`has spent $0.6000 of its monthly budget of $0.50`, "resets at 2026-07-01T00:00:00Z (the first of the month, UTC)"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := relaytest.NewUpstream(t, &upstreamSeen{})
			base, logs := startRelayLog(t, keyedConfig(up.URL, tt.key, bob()), clock.Now)
			for i := range tt.first {
				if _, apiErr, err := askAs(base, tt.model, tt.opts...); apiErr != nil || err != nil {
					t.Fatalf("request %d: %v %v", i+1, apiErr, err)
				}
			}
			_, apiErr, err := askAs(base, tt.model, tt.opts...)
			wantRefusal(t, apiErr, err, tt.want)
			for _, secret := range []string{aliceSecret, bobSecret} {
				if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), secret[:len(secret)-1]) {
					t.Errorf("the log holds a client key")
				}
			}
		})
	}
}

func mustExpiry(t *testing.T, s string) config.Expiry {
	t.Helper()
	e, err := config.ParseExpiry(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestClientKeyOverMaxConcurrentIsRefusedUntilOneEnds(t *testing.T) {
	block := make(chan struct{})
	us := &upstreamSeen{block: block, in: make(chan struct{}, 1)}
	up := relaytest.NewUpstream(t, us)
	base := startRelay(t, keyedConfig(up.URL, alice(config.ClientKey{MaxConcurrent: 1})))
	done := make(chan error, 1)
	go func() {
		_, apiErr, err := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret))
		if apiErr != nil {
			err = apiErr
		}
		done <- err
	}()
	<-us.in // the first request is upstream, in flight
	_, apiErr, err := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret))
	wantRefusal(t, apiErr, err, refusal{status: 429, typ: "rate_limit_error",
		says: []string{`client key "alice" has 1 requests in flight, its max_concurrent; retry when one ends`}, retryAfter: "1"})
	us.mu.Lock()
	us.in = nil
	us.mu.Unlock()
	close(block)
	if err := <-done; err != nil {
		t.Fatalf("the first request: %v", err)
	}
	if _, apiErr, err := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret)); apiErr != nil || err != nil {
		t.Fatalf("after the first ended: %v %v", apiErr, err)
	}
}

func TestClientKeyIsAcceptedInEitherHeader(t *testing.T) {
	tests := []struct {
		name string
		opts []option.RequestOption
		want refusal // status 0: served
	}{
		{name: "x-api-key", opts: []option.RequestOption{asKey(aliceSecret)}},
		{name: "Authorization: Bearer", opts: []option.RequestOption{asBearer(aliceSecret)}},
		{name: "both, the same key (Claude Code's apiKeyHelper)", opts: []option.RequestOption{withCredentials(aliceSecret, aliceSecret)}},
		{name: "both, x-api-key a relay key and the bearer token not", opts: []option.RequestOption{withCredentials(aliceSecret, "some-other-token")}},
		{name: "both, the bearer token a relay key and x-api-key not", opts: []option.RequestOption{withCredentials("sk-ant-api03-somebody", aliceSecret)}},
		{
			name: "both, two different relay keys",
			opts: []option.RequestOption{withCredentials(aliceSecret, bobSecret)},
			want: refusal{status: 401, typ: "authentication_error", says: []string{"two different client keys of this relay; send one key"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			us := &upstreamSeen{}
			up := relaytest.NewUpstream(t, us)
			base, logs := startRelayLog(t, keyedConfig(up.URL, alice(config.ClientKey{}), bob()), nil)
			_, apiErr, err := askAs(base, "claude-sonnet-4-5", tt.opts...)
			if tt.want.status != 0 {
				wantRefusal(t, apiErr, err, tt.want)
				return
			}
			if apiErr != nil || err != nil {
				t.Fatalf("got %v %v, want the answer", apiErr, err)
			}
			if got := logs.lines("msg=request", "client=alice"); len(got) != 1 {
				t.Errorf("access lines naming alice: %q", got)
			}
			// The relay's own key goes upstream, never the client's credentials.
			if got := us.seen(); len(got) != 1 || got[0] != "|upstream-key" {
				t.Errorf("upstream saw Authorization|x-api-key %q, want only the provider's key", got)
			}
		})
	}
}

func TestClientKeyBudgetIsSpentThenRefusedThenResetTheNextDay(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 6, 1, 23, 0, 0, 0, time.UTC)}
	up := relaytest.NewUpstream(t, &upstreamSeen{})
	base, logs := startRelayLog(t, keyedConfig(up.URL, alice(config.ClientKey{BudgetUSD: config.Budget{Daily: 1}}), bob()), clock.Now)
	// $0.60 a request: the first two are admitted under $1, the second crosses it.
	for i := range 2 {
		if _, apiErr, err := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret)); apiErr != nil || err != nil {
			t.Fatalf("request %d: %v %v", i+1, apiErr, err)
		}
	}
	_, apiErr, err := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret))
	wantRefusal(t, apiErr, err, refusal{status: 402, typ: "billing_error",
		says: []string{"$1.2000 of its daily budget of $1.00", "resets at 2026-06-02T00:00:00Z"}})
	// Bob's budget is his own.
	if _, apiErr, err := askAs(base, "claude-sonnet-4-5", asKey(bobSecret)); apiErr != nil || err != nil {
		t.Fatalf("bob: %v %v", apiErr, err)
	}
	clock.Advance(59 * time.Minute)
	if _, apiErr, _ := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret)); apiErr == nil || apiErr.StatusCode != 402 {
		t.Fatalf("at 23:59 the budget is still spent, got %v", apiErr)
	}
	clock.Advance(time.Minute)
	if _, apiErr, err := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret)); apiErr != nil || err != nil {
		t.Fatalf("at midnight UTC the budget is reset, got %v %v", apiErr, err)
	}
	if got := logs.lines("msg=request", "status=402", "client=alice"); len(got) != 2 {
		t.Errorf("access lines of alice's 402s: %q", got)
	}
}

func TestSubscriptionTokenWithAClientKeyIsForwardedAndNotChargedToTheBudget(t *testing.T) {
	us := &upstreamSeen{}
	up := relaytest.NewUpstream(t, us)
	cfg := keyedConfig(up.URL, alice(config.ClientKey{BudgetUSD: config.Budget{Daily: 1}, RPMLimit: 10}))
	cfg.Server.Auth.AllowSubscription = true
	base := startRelay(t, cfg)
	// The relay key as x-api-key, the client's own Claude token as Bearer: three requests
	// that would cost $1.80 on the relay's keys cost the key's budget nothing.
	for i := range 3 {
		if _, apiErr, err := askAs(base, "claude-sonnet-4-5", withCredentials(aliceSecret, "sk-ant-oat01-subscription")); apiErr != nil || err != nil {
			t.Fatalf("request %d: %v %v", i+1, apiErr, err)
		}
	}
	for _, got := range us.seen() {
		if got != "Bearer sk-ant-oat01-subscription|" {
			t.Errorf("upstream saw Authorization|x-api-key %q, want the subscription token only", got)
		}
	}
	// Without the subscription token the relay's key serves, and the budget counts.
	for i := range 2 {
		if _, apiErr, err := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret)); apiErr != nil || err != nil {
			t.Fatalf("request %d on the relay's key: %v %v", i+1, apiErr, err)
		}
	}
	if _, apiErr, _ := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret)); apiErr == nil || apiErr.StatusCode != 402 {
		t.Fatalf("after $1.20 on the relay's key, got %v, want a 402", apiErr)
	}
	// A subscription token alone is not a relay key.
	_, apiErr, err := askAs(base, "claude-sonnet-4-5", asBearer("sk-ant-oat01-subscription"))
	wantRefusal(t, apiErr, err, refusal{status: 401, typ: "authentication_error", says: []string{"invalid x-api-key"}})
}

func TestModelsListOnlyWhatTheClientKeyMayUse(t *testing.T) {
	p := providerFor(config.TypeAnthropic, "anthropic", "http://127.0.0.1:1", "upstream-key")
	p.Models = []string{"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5"}
	cfg := configWith(p)
	cfg.Server.Auth.Keys = []config.ClientKey{alice(config.ClientKey{Models: []string{"claude-haiku-*", "claude-sonnet-4-5"}}), bob()}
	base := startRelay(t, cfg)
	list := func(secret string) []string {
		client := sdkClient(base, asKey(secret))
		page, err := client.Models.List(context.Background(), anthropic.ModelListParams{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		return ids
	}
	if got := strings.Join(list(aliceSecret), ","); got != "claude-sonnet-4-5,claude-haiku-4-5" {
		t.Errorf("alice sees %s", got)
	}
	if got := strings.Join(list(bobSecret), ","); got != "claude-sonnet-4-5,claude-haiku-4-5,claude-opus-4-5" {
		t.Errorf("bob (no models patterns) sees %s", got)
	}
}

func TestClientKeyNamesTheUsageInTheMetrics(t *testing.T) {
	up := relaytest.NewUpstream(t, &upstreamSeen{})
	base := startRelay(t, keyedConfig(up.URL, alice(config.ClientKey{Models: []string{"claude-sonnet-*"}}), bob()))
	askAs(base, "claude-sonnet-4-5", asKey(aliceSecret))
	askAs(base, "claude-opus-4-5", asKey(aliceSecret))
	askAs(base, "claude-sonnet-4-5", asKey("ccr_unknown"))
	resp, err := http.Get(base + "/metrics") // needs a key
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("metrics without a key: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+bobSecret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`ccrelay_client_requests_total{client="alice",status="200"} 1`,
		`ccrelay_client_requests_total{client="alice",status="403"} 1`,
		`ccrelay_client_tokens_total{client="alice",type="input"} 100000`,
		`ccrelay_client_tokens_total{client="alice",type="output"} 20000`,
		`ccrelay_client_cost_usd_total{client="alice"} 0.6`,
	} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(b), `client="bob"`) || strings.Contains(string(b), `client=""`) {
		t.Errorf("series for a client that sent nothing, or without a client")
	}
}

// pricedStream is a hand-made Anthropic stream (not recorded traffic) whose usage costs $0.60
// at claude-sonnet-4-5's list price: input in message_start, output in message_delta.
var pricedStream = []string{
	"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01hand\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":100000,\"output_tokens\":1}}}\n\n",
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n",
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":20000}}\n\n",
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
}

func TestAStreamedAnswerSpendsTheBudgetWhenItEnds(t *testing.T) {
	up := relaytest.NewUpstream(t, relaytest.SSE(pricedStream, 0))
	base, logs := startRelayLog(t, keyedConfig(up.URL, alice(config.ClientKey{BudgetUSD: config.Budget{Daily: 1}})), nil)
	body := `{"model":"claude-sonnet-4-5","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	for i := range 2 {
		resp, b := post(t, base+"/v1/messages", []byte(body), map[string]string{"X-Api-Key": aliceSecret})
		evs, err := readEvents(t, bytes.NewReader(b))
		if resp.StatusCode != 200 || err != nil || len(evs) != len(pricedStream) {
			t.Fatalf("stream %d: %d, %d events, %v", i+1, resp.StatusCode, len(evs), err)
		}
		// A stream ends for the client at message_stop; the relay counts its spend as the
		// request ends, just after: wait for its access line.
		waitFor(t, "the stream's access line", func() bool { return len(logs.lines("msg=request", "client=alice")) == i+1 })
	}
	_, apiErr, err := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret))
	wantRefusal(t, apiErr, err, refusal{status: 402, typ: "billing_error", says: []string{"$1.2000 of its daily budget of $1.00"}})
}

func TestSharedClientKeyRatesAndConcurrencyHoldAcrossThreeRelays(t *testing.T) {
	srv := relaytest.StartRedis(t)
	block := make(chan struct{})
	us := &upstreamSeen{}
	up := relaytest.NewUpstream(t, us)
	bases := sharedRelays(t, srv.URL, 3, nil, func() *config.Config {
		return keyedConfig(up.URL, alice(config.ClientKey{RPMLimit: 3, MaxConcurrent: 1}))
	})
	// rpm_limit 3 in all, round robin: one request on each relay, then every relay refuses.
	for i, base := range bases {
		if _, apiErr, err := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret)); apiErr != nil || err != nil {
			t.Fatalf("relay %d: %v %v", i+1, apiErr, err)
		}
	}
	for i, base := range bases {
		_, apiErr, err := askAs(base, "claude-sonnet-4-5", asKey(aliceSecret))
		if apiErr == nil || apiErr.StatusCode != 429 || !strings.Contains(apiErr.Message, "rpm_limit of 3 requests per minute; retry in") {
			t.Fatalf("relay %d, the key's fourth request of the minute: %v %v", i+1, apiErr, err)
		}
	}
	if n := len(us.seen()); n != 3 {
		t.Fatalf("the upstream was asked %d times, want 3", n)
	}

	// max_concurrent 1 in all: a request in flight through relay 1 holds the key on relay 2.
	bases = sharedRelays(t, srv.URL, 3, nil, func() *config.Config {
		k := alice(config.ClientKey{MaxConcurrent: 1})
		k.Name = "alice2" // counters of their own
		return keyedConfig(up.URL, k)
	})
	us.mu.Lock()
	us.block, us.in = block, make(chan struct{}, 1)
	in := us.in
	us.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, apiErr, err := askAs(bases[0], "claude-sonnet-4-5", asKey(aliceSecret))
		if apiErr != nil {
			err = apiErr
		}
		done <- err
	}()
	<-in
	_, apiErr, err := askAs(bases[1], "claude-sonnet-4-5", asKey(aliceSecret))
	wantRefusal(t, apiErr, err, refusal{status: 429, typ: "rate_limit_error",
		says: []string{`client key "alice2" has 1 requests in flight, its max_concurrent`}, retryAfter: "1"})
	us.mu.Lock()
	us.in = nil
	us.mu.Unlock()
	close(block)
	if err := <-done; err != nil {
		t.Fatalf("the request in flight: %v", err)
	}
}

func TestSharedClientKeyLimitsAreEachRelaysShareWhileRedisIsDown(t *testing.T) {
	srv := relaytest.StartRedis(t)
	up := relaytest.NewUpstream(t, &upstreamSeen{})
	bases := sharedRelays(t, srv.URL, 3, nil, func() *config.Config {
		return keyedConfig(up.URL, alice(config.ClientKey{RPMLimit: 6}))
	})
	srv.Stop()
	// rpm_limit 6 with expected_instances 3: each relay serves 2 a minute on its own, 6 in all.
	served := 0
	for i := range 9 {
		_, apiErr, err := askAs(bases[i%3], "claude-sonnet-4-5", asKey(aliceSecret))
		switch {
		case apiErr == nil && err == nil:
			served++
		case apiErr != nil && apiErr.StatusCode == 429:
			if !strings.Contains(apiErr.Message, "rpm_limit of 2 requests per minute (this instance's share while the shared state is unreachable)") {
				t.Errorf("429: %s", apiErr.Message)
			}
		default:
			t.Fatalf("request %d failed with Redis down: %v %v", i+1, apiErr, err)
		}
	}
	if served != 6 {
		t.Fatalf("served %d with Redis down, want 6 (2 per relay)", served)
	}
}
