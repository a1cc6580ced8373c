package provider

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/google/go-cmp/cmp"
)

// fakeEntra is a Microsoft identity platform token endpoint on loopback (client-credentials
// grant, secret in the form body).
type fakeEntra struct {
	srv       *httptest.Server
	expiresIn int
	mu        sync.Mutex
	fetches   int
	paths     []string
}

func newFakeEntra(t *testing.T, expiresIn int) *fakeEntra {
	t.Helper()
	fe := &fakeEntra{expiresIn: expiresIn}
	fe.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		fe.mu.Lock()
		fe.paths = append(fe.paths, r.URL.Path)
		fe.mu.Unlock()
		f := r.PostForm
		if r.URL.Path != "/tenant-1/oauth2/v2.0/token" || f.Get("grant_type") != "client_credentials" ||
			f.Get("client_id") != "client-1" || f.Get("client_secret") != "secret-1" || f.Get("scope") != azureScope {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
			return
		}
		fe.mu.Lock()
		fe.fetches++
		n := fe.fetches
		fe.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":%d,"ext_expires_in":%d,"access_token":"entra-%d"}`, fe.expiresIn, fe.expiresIn, n)
	}))
	t.Cleanup(fe.srv.Close)
	return fe
}

// TestAzureEntraClientCredentials checks the client-credentials flow: token cached, refreshed
// a minute before expiry, errors reported, requests through Env.Transport.
func TestAzureEntraClientCredentials(t *testing.T) {
	for _, tt := range []struct {
		name      string
		expiresIn int
		secret    string
		want      []string
		wantErr   string
	}{
		{"cached", 3599, "secret-1", []string{"entra-1", "entra-1", "entra-1"}, ""},
		{"refreshed before expiry", 30, "secret-1", []string{"entra-1", "entra-2", "entra-3"}, ""},
		{"bad secret", 3599, "wrong", nil, "azure entra token: oauth2: \"invalid_client\" \"AADSTS7000215: Invalid client secret provided.\""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fe := newFakeEntra(t, tt.expiresIn)
			tr := &countingTransport{}
			auth, err := newAzureEntraAuth(config.Provider{Type: config.TypeAzure, AzureAuth: "entra"}, Env{
				Getenv: mapEnv(map[string]string{"AZURE_TENANT_ID": "tenant-1", "AZURE_CLIENT_ID": "client-1",
					"AZURE_CLIENT_SECRET": tt.secret, "AZURE_AUTHORITY_HOST": fe.srv.URL + "/"}),
				Transport: tr,
			})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				req, _ := http.NewRequest(http.MethodPost, "https://example.invalid/", nil)
				if err := auth.Authenticate(t.Context(), req, nil, &Call{}); err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Errorf("err %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if diff := cmp.Diff(tt.want, tokens(t, auth, 3)); diff != "" {
				t.Errorf("tokens (-want +got):\n%s", diff)
			}
			tr.mu.Lock()
			defer tr.mu.Unlock()
			if len(tr.paths) != len(uniq(tt.want)) {
				t.Errorf("token requests through Env.Transport: %v", tr.paths)
			}
		})
	}
}

// TestAzureEntraTokenCommand checks azure_token_command: a bare token cached about five
// minutes, az-style JSON with its expiry, and failures.
func TestAzureEntraTokenCommand(t *testing.T) {
	dir := t.TempDir()
	counter := filepath.Join(dir, "runs")
	// Each run appends a line to the counter file and prints a token numbered by the count.
	bare := fmt.Sprintf(`echo run >> %q; echo "cmd-token-$(wc -l < %q | tr -d ' ')"`, counter, counter)
	future := time.Now().Add(time.Hour).Format("2006-01-02 15:04:05.000000")
	past := time.Now().Add(-time.Hour).Format("2006-01-02 15:04:05.000000")
	azJSON := func(expiresOn string) string {
		return fmt.Sprintf(`echo run >> %q; n=$(wc -l < %q | tr -d ' '); printf '{"accessToken":"az-%%s","expiresOn":"%s","subscription":"s","tenant":"t","tokenType":"Bearer"}' "$n"`, counter, counter, expiresOn)
	}
	for _, tt := range []struct {
		name    string
		command string
		want    []string
		wantErr string
	}{
		{"bare token cached", bare, []string{"cmd-token-1", "cmd-token-1"}, ""},
		{"az JSON with expiresOn", azJSON(future), []string{"az-1", "az-1"}, ""},
		{"az JSON already expired", azJSON(past), []string{"az-1", "az-2"}, ""},
		{"expires_on Unix seconds", `printf '{"access_token":"unix-tok","expires_on":"` + fmt.Sprint(time.Now().Add(time.Hour).Unix()) + `"}'`, []string{"unix-tok", "unix-tok"}, ""},
		{"failing command", "echo 'AADSTS70043: refresh token expired' >&2; exit 3", nil, "azure entra token: azure_token_command: exit status 3: AADSTS70043: refresh token expired"},
		{"no output", "true", nil, "azure entra token: azure_token_command printed nothing"},
		{"two words", "echo two words", nil, "azure entra token: azure_token_command printed more than one token"},
		{"JSON without token", `echo '{"expiresOn":"x"}'`, nil, "azure entra token: azure_token_command printed JSON without accessToken"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_ = os.Remove(counter)
			auth, err := newAzureEntraAuth(config.Provider{Type: config.TypeAzure, AzureAuth: "entra", AzureTokenCommand: tt.command}, noEnv())
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				req, _ := http.NewRequest(http.MethodPost, "https://example.invalid/", nil)
				if err := auth.Authenticate(t.Context(), req, nil, &Call{}); err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Errorf("err %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if diff := cmp.Diff(tt.want, tokens(t, auth, 2)); diff != "" {
				t.Errorf("tokens (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAzureEntraConfig checks the constructor's refusals.
func TestAzureEntraConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing", nil, "azure_auth entra needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or azure_token_command"},
		{"no secret", map[string]string{"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c"}, "azure_auth entra needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or azure_token_command"},
		{"bad authority", map[string]string{"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s", "AZURE_AUTHORITY_HOST": "login"}, `azure: AZURE_AUTHORITY_HOST "login": want an absolute http or https URL`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newAzureEntraAuth(config.Provider{Type: config.TypeAzure, AzureAuth: "entra"}, Env{Getenv: mapEnv(tt.env)})
			if err == nil || err.Error() != tt.want {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// TestParseCommandToken covers the token formats a command may print.
func TestParseCommandToken(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	local := time.Date(2026, 11, 26, 13, 0, 0, 0, time.Local)
	for _, tt := range []struct {
		name, out string
		token     string
		expiry    time.Time
	}{
		{"bare", "tok\n", "tok", now.Add(azureCommandTTL)},
		{"az expiresOn local", `{"accessToken":"a","expiresOn":"2026-11-26 13:00:00.000000"}`, "a", local},
		{"expiresOn RFC 3339", `{"accessToken":"a","expiresOn":"2026-11-26T14:00:00Z"}`, "a", time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)},
		{"expires_on number", `{"accessToken":"a","expires_on":1795000000}`, "a", time.Unix(1795000000, 0)},
		{"expires_on string wins", `{"access_token":"b","expires_on":"1795000000","expiresOn":"2026-11-26 13:00:00.000000"}`, "b", time.Unix(1795000000, 0)},
		{"unparsable expiry", `{"accessToken":"a","expiresOn":"soon"}`, "a", now.Add(azureCommandTTL)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := parseCommandToken([]byte(tt.out), now)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != tt.token || !tok.Expiry.Equal(tt.expiry) {
				t.Errorf("got %q %v, want %q %v", tok.AccessToken, tok.Expiry, tt.token, tt.expiry)
			}
		})
	}
}
