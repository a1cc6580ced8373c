package provider

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeGoogleToken is a loopback OAuth token endpoint. For the JWT-bearer grant it verifies the
// assertion's RS256 signature with the service account's public key and its claims; for the
// refresh-token grant it checks the refresh token. Each token it issues is "ya29.test-N".
type fakeGoogleToken struct {
	t         *testing.T
	srv       *httptest.Server
	key       *rsa.PrivateKey
	expiresIn int

	mu      sync.Mutex
	fetches int
}

func newFakeGoogleToken(t *testing.T, expiresIn int) *fakeGoogleToken {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ft := &fakeGoogleToken{t: t, key: key, expiresIn: expiresIn}
	ft.srv = httptest.NewServer(http.HandlerFunc(ft.serve))
	t.Cleanup(ft.srv.Close)
	return ft
}

func (ft *fakeGoogleToken) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.URL.Path != "/token" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if err := ft.verifyJWT(r.PostForm.Get("assertion")); err != nil {
			ft.t.Logf("fake token server: %v", err)
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
	case "refresh_token":
		if r.PostForm.Get("refresh_token") != "refresh-1" || r.PostForm.Get("client_secret") != "gcloud-secret" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
	default:
		http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
		return
	}
	ft.mu.Lock()
	ft.fetches++
	n := ft.fetches
	ft.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"ya29.test-%d","expires_in":%d,"token_type":"Bearer"}`, n, ft.expiresIn)
}

// verifyJWT checks a service-account assertion.
func (ft *fakeGoogleToken) verifyJWT(jwt string) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return fmt.Errorf("assertion is not a JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&ft.key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("assertion signature: %v", err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Iss, Scope, Aud string
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return err
	}
	if claims.Iss != "relay@example-project.iam.gserviceaccount.com" || claims.Scope != googleScope || claims.Aud != ft.srv.URL+"/token" {
		return fmt.Errorf("claims %+v", claims)
	}
	return nil
}

func (ft *fakeGoogleToken) count() int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.fetches
}

// serviceAccountFile writes a service-account JSON key (generated for the test) whose
// token_uri is the fake token endpoint, and returns its path.
func (ft *fakeGoogleToken) serviceAccountFile(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(ft.key)
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "example-project",
		"private_key_id": "test-key-1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "relay@example-project.iam.gserviceaccount.com",
		"client_id":      "1234567890",
		"token_uri":      ft.srv.URL + "/token",
	})
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(path, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tokens returns the bearer tokens an Authenticator puts on n successive requests.
func tokens(t *testing.T, a Authenticator, n int) []string {
	t.Helper()
	var out []string
	for range n {
		req, _ := http.NewRequest(http.MethodPost, "https://example.invalid/", nil)
		req.Header.Set("X-Api-Key", "client-key")
		if err := a.Authenticate(context.Background(), req, nil, &Call{}); err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if req.Header.Get("X-Api-Key") != "" {
			t.Error("x-api-key left on the request")
		}
		out = append(out, strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "))
	}
	return out
}

// TestGoogleServiceAccountTokens checks ADC from a service-account file: the token is fetched
// once and cached, and fetched again once expired (x/oauth2 refreshes 10 s before expiry, so a
// 1 s token is always expired).
func TestGoogleServiceAccountTokens(t *testing.T) {
	for _, tt := range []struct {
		name      string
		expiresIn int
		want      []string
	}{
		{"cached", 3600, []string{"ya29.test-1", "ya29.test-1", "ya29.test-1"}},
		{"refreshed after expiry", 1, []string{"ya29.test-1", "ya29.test-2", "ya29.test-3"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeGoogleToken(t, tt.expiresIn)
			tr := &countingTransport{}
			creds, err := newGoogleTokenSource(context.Background(), Env{
				Getenv:    mapEnv(map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": ft.serviceAccountFile(t)}),
				Transport: tr,
			})
			if err != nil {
				t.Fatal(err)
			}
			if creds.projectID != "example-project" {
				t.Errorf("project %q", creds.projectID)
			}
			got := tokens(t, &googleAuth{creds: creds}, 3)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("tokens %v, want %v", got, tt.want)
			}
			if ft.count() != len(uniq(tt.want)) {
				t.Errorf("%d token fetches, want %d", ft.count(), len(uniq(tt.want)))
			}
			tr.mu.Lock()
			defer tr.mu.Unlock()
			if len(tr.paths) != ft.count() {
				t.Errorf("token requests through Env.Transport: %v", tr.paths)
			}
		})
	}
}

func uniq(s []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return m
}

// TestGoogleGcloudUserCredentials checks ADC from gcloud's user credentials file under
// CLOUDSDK_CONFIG (refresh-token grant), with quota_project_id as the project.
func TestGoogleGcloudUserCredentials(t *testing.T) {
	ft := newFakeGoogleToken(t, 3600)
	dir := t.TempDir()
	data, _ := json.Marshal(map[string]string{"type": "authorized_user", "client_id": "gcloud-client", "client_secret": "gcloud-secret",
		"refresh_token": "refresh-1", "quota_project_id": "quota-project", "token_uri": ft.srv.URL + "/token"})
	if err := os.WriteFile(filepath.Join(dir, "application_default_credentials.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := newGoogleTokenSource(context.Background(), Env{Getenv: mapEnv(map[string]string{"CLOUDSDK_CONFIG": dir})})
	if err != nil {
		t.Fatal(err)
	}
	if creds.projectID != "quota-project" || !strings.HasPrefix(creds.source, "gcloud credentials file") {
		t.Errorf("project %q source %q", creds.projectID, creds.source)
	}
	if got := tokens(t, &googleAuth{creds: creds}, 2); got[0] != "ya29.test-1" || got[1] != "ya29.test-1" {
		t.Errorf("tokens %v", got)
	}
}

// TestGoogleMetadataServer checks the last ADC source, the GCE metadata server (here on
// loopback through GCE_METADATA_HOST), reached through Env.Transport.
func TestGoogleMetadataServer(t *testing.T) {
	var mu sync.Mutex
	fetches := 0
	md := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" || r.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/token" ||
			r.URL.Query().Get("scopes") != googleScope {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		fetches++
		mu.Unlock()
		w.Header().Set("Metadata-Flavor", "Google")
		fmt.Fprint(w, `{"access_token":"ya29.metadata","expires_in":3599,"token_type":"Bearer"}`)
	}))
	defer md.Close()
	t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(md.URL, "http://"))
	tr := &countingTransport{}
	creds, err := newGoogleTokenSource(context.Background(), Env{Getenv: mapEnv(map[string]string{"CLOUDSDK_CONFIG": t.TempDir()}), Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if got := tokens(t, &googleAuth{creds: creds}, 2); got[0] != "ya29.metadata" || got[1] != "ya29.metadata" {
		t.Errorf("tokens %v", got)
	}
	if fetches != 1 {
		t.Errorf("%d metadata fetches, want 1", fetches)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.paths) != 1 {
		t.Errorf("metadata requests through Env.Transport: %v", tr.paths)
	}
}

// TestGoogleCredentialErrors checks unusable credentials files.
func TestGoogleCredentialErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"type":"nonsense"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, file, want string }{
		{"missing file", filepath.Join(t.TempDir(), "nope.json"), "vertex: read GOOGLE_APPLICATION_CREDENTIALS: "},
		{"unknown type", bad, "vertex: GOOGLE_APPLICATION_CREDENTIALS file " + bad + ": "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newGoogleTokenSource(context.Background(), Env{Getenv: mapEnv(map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": tt.file})})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("err %v, want prefix %q", err, tt.want)
			}
		})
	}
}
