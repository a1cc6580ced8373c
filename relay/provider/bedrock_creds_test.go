package provider

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/google/go-cmp/cmp"
)

// isolateAWS points the AWS SDK at empty temporary configuration files and clears every
// variable of its credential chain, so that a test sees only what it sets and nothing reaches
// the network (AWS_EC2_METADATA_DISABLED).
func isolateAWS(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_BEARER_TOKEN_BEDROCK", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	for _, f := range []string{"credentials", "config"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// mapEnv is an Env.Getenv over a map.
func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestBedrockCredentialSources checks each credential source against the fake upstream, which
// verifies the signature with the expected key (or the API key).
func TestBedrockCredentialSources(t *testing.T) {
	fb := newFakeBedrock(t)
	base := config.Provider{Name: "b", Type: config.TypeBedrock, BaseURL: fb.srv.URL, AWSRegion: testRegion}
	sharedFiles := func(t *testing.T) {
		dir := isolateAWS(t)
		creds := "[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = wrong\n\n" +
			"[relay-test]\naws_access_key_id = " + testAKID2 + "\naws_secret_access_key = " + testSecret2 +
			"\naws_session_token = session-token-2\n"
		if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte(creds), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		setup  func(t *testing.T)
		cfg    func(c *config.Provider)
		env    map[string]string
		key    string
		signer string
	}{
		{name: "explicit keys", cfg: func(c *config.Provider) { c.AWSAccessKeyID, c.AWSSecretAccessKey = testAKID, testSecret }, signer: testAKID},
		{name: "explicit keys with session token", cfg: func(c *config.Provider) {
			c.AWSAccessKeyID, c.AWSSecretAccessKey, c.AWSSessionToken = testAKID2, testSecret2, "session-token-2"
		}, signer: testAKID2},
		{name: "explicit keys win over the environment", cfg: func(c *config.Provider) { c.AWSAccessKeyID, c.AWSSecretAccessKey = testAKID, testSecret },
			env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIDWRONG", "AWS_SECRET_ACCESS_KEY": "x", "AWS_BEARER_TOKEN_BEDROCK": "wrong"}, signer: testAKID},
		{name: "environment through Env.Getenv", env: map[string]string{
			"AWS_ACCESS_KEY_ID": testAKID2, "AWS_SECRET_ACCESS_KEY": testSecret2, "AWS_SESSION_TOKEN": "session-token-2"}, signer: testAKID2},
		{name: "environment through the SDK chain", setup: func(t *testing.T) {
			isolateAWS(t)
			t.Setenv("AWS_ACCESS_KEY_ID", testAKID)
			t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
		}, signer: testAKID},
		{name: "shared credentials file with AWS_PROFILE", setup: func(t *testing.T) {
			sharedFiles(t)
			t.Setenv("AWS_PROFILE", "relay-test")
		}, signer: testAKID2},
		{name: "shared credentials file with AWS_PROFILE through Env.Getenv", setup: sharedFiles,
			env: map[string]string{"AWS_PROFILE": "relay-test"}, signer: testAKID2},
		{name: "shared credentials file with aws_profile", setup: sharedFiles,
			cfg: func(c *config.Provider) { c.AWSProfile = "relay-test" }, signer: testAKID2},
		{name: "shared config file, default profile", setup: func(t *testing.T) {
			dir := isolateAWS(t)
			cfg := "[default]\naws_access_key_id = " + testAKID + "\naws_secret_access_key = " + testSecret + "\n"
			if err := os.WriteFile(filepath.Join(dir, "config"), []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
		}, signer: testAKID},
		{name: "aws_bearer_token", cfg: func(c *config.Provider) { c.AWSBearerToken = testBearer }, signer: "bearer"},
		{name: "AWS_BEARER_TOKEN_BEDROCK", env: map[string]string{"AWS_BEARER_TOKEN_BEDROCK": testBearer, "AWS_ACCESS_KEY_ID": "AKIDWRONG", "AWS_SECRET_ACCESS_KEY": "x"}, signer: "bearer"},
		// The seed's Bedrock example has keys: [{key: "bedrock-internal"}], "internal key for
		// cc-relay auth": a pool entry for limits, never a Bedrock credential.
		{name: "a key-pool key is never sent to Bedrock", cfg: func(c *config.Provider) { c.AWSAccessKeyID, c.AWSSecretAccessKey = testAKID, testSecret }, key: "bedrock-internal", signer: testAKID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t)
			}
			cfg := base
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			env := Env{Getenv: mapEnv(tt.env)}
			p := newTestProvider(t, cfg, env)
			resp := do(t, p, &Call{Op: OpMessages, Model: "anthropic.claude-3-haiku-20240307-v1:0", Key: tt.key, Body: []byte(`{"max_tokens":5,"messages":[]}`)})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, readAll(t, resp))
			}
			if got := fb.last().Signer; got != tt.signer {
				t.Errorf("signed by %q, want %q", got, tt.signer)
			}
		})
	}
}

// TestBedrockNoCredentials checks that a missing profile fails at construction and that an
// empty credential chain fails at the request, without touching the network.
func TestBedrockNoCredentials(t *testing.T) {
	isolateAWS(t)
	cfg := config.Provider{Name: "b", Type: config.TypeBedrock, AWSRegion: testRegion, AWSProfile: "missing"}
	if _, err := New(context.Background(), cfg, noEnv()); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing profile: err %v", err)
	}
	cfg.AWSProfile = ""
	p := newTestProvider(t, cfg, noEnv())
	req, body, err := p.Adapter.Request(context.Background(), &Call{Model: "m", Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Auth.Authenticate(context.Background(), req, body, &Call{})
	if err == nil || !strings.HasPrefix(err.Error(), "bedrock: retrieve AWS credentials: ") {
		t.Errorf("err %v, want a credentials error", err)
	}
}

// rotatingProvider hands out its credentials in turn; each expires as soon as it is issued
// when expire is set.
type rotatingProvider struct {
	creds  []aws.Credentials
	expire bool
	calls  atomic.Int32
}

func (p *rotatingProvider) Retrieve(context.Context) (aws.Credentials, error) {
	i := int(p.calls.Add(1)) - 1
	c := p.creds[min(i, len(p.creds)-1)]
	if p.expire {
		c.CanExpire, c.Expires = true, time.Now()
	}
	return c, nil
}

// TestBedrockCredentialsRefresh checks that credentials are cached, and retrieved again once
// expired: both signatures must verify, each with its own key.
func TestBedrockCredentialsRefresh(t *testing.T) {
	fb := newFakeBedrock(t)
	creds := []aws.Credentials{
		{AccessKeyID: testAKID, SecretAccessKey: testSecret},
		{AccessKeyID: testAKID2, SecretAccessKey: testSecret2, SessionToken: "session-token-2"},
	}
	for _, tt := range []struct {
		name        string
		expire      bool
		wantSigners []string
		wantCalls   int32
	}{
		{"expired credentials are refreshed", true, []string{testAKID, testAKID2}, 2},
		{"valid credentials are cached", false, []string{testAKID, testAKID}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := &rotatingProvider{creds: creds, expire: tt.expire}
			p := &Provider{Adapter: &bedrock{base: mustURL(t, fb.srv.URL), region: testRegion}, Auth: newBedrockAuthWith(testRegion, "", src)}
			var signers []string
			for range 2 {
				resp := do(t, p, &Call{Op: OpMessages, Model: "anthropic.claude-3-haiku-20240307-v1:0", Body: []byte(`{"max_tokens":5,"messages":[]}`)})
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", resp.StatusCode, readAll(t, resp))
				}
				signers = append(signers, fb.last().Signer)
			}
			if diff := cmp.Diff(tt.wantSigners, signers); diff != "" {
				t.Errorf("signers (-want +got):\n%s", diff)
			}
			if got := src.calls.Load(); got != tt.wantCalls {
				t.Errorf("provider asked %d times, want %d", got, tt.wantCalls)
			}
		})
	}
}

// countingTransport counts the requests that go through it.
type countingTransport struct {
	mu    sync.Mutex
	paths []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.paths = append(c.paths, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestBedrockInstanceRoleUsesEnvTransport checks the instance-role source of the SDK chain
// against a fake EC2 metadata service on loopback, reached through Env.Transport.
func TestBedrockInstanceRoleUsesEnvTransport(t *testing.T) {
	isolateAWS(t)
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			_, _ = io.WriteString(w, "imds-token")
		case r.Header.Get("X-Aws-Ec2-Metadata-Token") != "imds-token":
			http.Error(w, "no token", http.StatusUnauthorized)
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
			_, _ = io.WriteString(w, "relay-role")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/relay-role":
			_, _ = io.WriteString(w, `{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"`+testAKID2+`","SecretAccessKey":"`+testSecret2+
				`","Token":"session-token-2","Expiration":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer imds.Close()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)

	fb := newFakeBedrock(t)
	tr := &countingTransport{}
	p := newTestProvider(t, config.Provider{Name: "b", Type: config.TypeBedrock, BaseURL: fb.srv.URL, AWSRegion: testRegion},
		Env{Getenv: mapEnv(nil), Transport: tr})
	resp := do(t, p, &Call{Op: OpMessages, Model: "anthropic.claude-3-haiku-20240307-v1:0", Body: []byte(`{"max_tokens":5,"messages":[]}`)})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, readAll(t, resp))
	}
	if got := fb.last().Signer; got != testAKID2 {
		t.Errorf("signed by %q, want the instance role's %q", got, testAKID2)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if !contains(tr.paths, "GET /latest/meta-data/iam/security-credentials/relay-role") {
		t.Errorf("metadata requests did not go through Env.Transport: %v", tr.paths)
	}
}

// TestBedrockCABundleWithEnvTransport checks that a custom CA bundle, which the SDK cannot add
// to Env.Transport, does not make the provider fail.
func TestBedrockCABundleWithEnvTransport(t *testing.T) {
	dir := isolateAWS(t)
	bundle := filepath.Join(dir, "ca.pem")
	fb := newFakeBedrock(t)
	tls := httptest.NewTLSServer(http.NotFoundHandler()) // only for a valid certificate
	pem := "-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(tls.Certificate().Raw) + "\n-----END CERTIFICATE-----\n"
	tls.Close()
	if err := os.WriteFile(bundle, []byte(pem), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", bundle)
	t.Setenv("AWS_ACCESS_KEY_ID", testAKID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	p := newTestProvider(t, config.Provider{Name: "b", Type: config.TypeBedrock, BaseURL: fb.srv.URL, AWSRegion: testRegion},
		Env{Getenv: mapEnv(nil), Transport: &countingTransport{}})
	resp := do(t, p, &Call{Op: OpMessages, Model: "m", Body: []byte(`{"max_tokens":5,"messages":[]}`)})
	if resp.StatusCode != http.StatusOK || fb.last().Signer != testAKID {
		t.Errorf("status %d, signer %q", resp.StatusCode, fb.last().Signer)
	}
}
