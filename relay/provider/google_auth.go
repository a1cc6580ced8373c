package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"cloud.google.com/go/compute/metadata"
	"github.com/tidwall/gjson"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// googleScope is the OAuth scope Vertex AI needs.
const googleScope = "https://www.googleapis.com/auth/cloud-platform"

// metadataEarlyExpiry is how long before expiry a metadata-server token is replaced; the
// shortest metadata-server cache is 4 minutes (as in x/oauth2/google.ComputeTokenSource).
const metadataEarlyExpiry = 225 * time.Second

// googleCredentials is a cached Google access-token source and where it came from.
type googleCredentials struct {
	ts oauth2.TokenSource
	// projectID is the credentials' project ("" when unknown).
	projectID string
	// source names the credentials in error messages.
	source string
}

// newGoogleTokenSource finds Application Default Credentials without touching the network:
//
//  1. the JSON file named by GOOGLE_APPLICATION_CREDENTIALS (service account, gcloud user,
//     external account, impersonated service account);
//  2. gcloud's application_default_credentials.json (under CLOUDSDK_CONFIG, or the user's
//     gcloud configuration directory);
//  3. otherwise, the GCE metadata server, asked on the first request.
//
// All token fetches use env.Transport (through oauth2.HTTPClient in the token source's context,
// and a metadata client built on it), and tokens are cached until shortly before they expire.
func newGoogleTokenSource(ctx context.Context, env Env) (*googleCredentials, error) {
	getenv := getenvFunc(env)
	hc := httpClient(env)
	// The token source keeps this context for every refresh: it must outlive the constructor's.
	tctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, hc)
	params := google.CredentialsParams{Scopes: []string{googleScope}}

	if file := firstEnv(getenv, "GOOGLE_APPLICATION_CREDENTIALS"); file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("vertex: read GOOGLE_APPLICATION_CREDENTIALS: %w", err)
		}
		return googleFromJSON(tctx, data, params, "GOOGLE_APPLICATION_CREDENTIALS file "+file)
	}
	if file := gcloudADCFile(getenv); file != "" {
		if data, err := os.ReadFile(file); err == nil {
			return googleFromJSON(tctx, data, params, "gcloud credentials file "+file)
		}
	}
	src := &metadataTokenSource{ctx: tctx, client: metadata.NewClient(hc)}
	return &googleCredentials{
		ts:     oauth2.ReuseTokenSourceWithExpiry(nil, src, metadataEarlyExpiry),
		source: "GCE metadata server",
	}, nil
}

// googleFromJSON builds credentials from a credentials JSON file's contents.
//
// The file is the user's own Application Default Credentials, so its declared type is trusted;
// only the types ADC documents are accepted.
func googleFromJSON(ctx context.Context, data []byte, params google.CredentialsParams, source string) (*googleCredentials, error) {
	typ := google.CredentialsType(gjson.GetBytes(data, "type").String())
	switch typ {
	case google.ServiceAccount, google.AuthorizedUser, google.ExternalAccount,
		google.ExternalAccountAuthorizedUser, google.ImpersonatedServiceAccount, google.GDCHServiceAccount:
	default:
		return nil, fmt.Errorf("vertex: %s: unsupported credentials type %q", source, typ)
	}
	creds, err := google.CredentialsFromJSONWithTypeAndParams(ctx, data, typ, params)
	if err != nil {
		return nil, fmt.Errorf("vertex: %s: %w", source, err)
	}
	project := creds.ProjectID
	if project == "" {
		var f struct {
			QuotaProjectID string `json:"quota_project_id"`
		}
		if json.Unmarshal(data, &f) == nil {
			project = f.QuotaProjectID
		}
	}
	return &googleCredentials{ts: oauth2.ReuseTokenSource(nil, creds.TokenSource), projectID: project, source: source}, nil
}

// gcloudADCFile is where `gcloud auth application-default login` writes credentials.
func gcloudADCFile(getenv func(string) string) string {
	const name = "application_default_credentials.json"
	if dir := getenv("CLOUDSDK_CONFIG"); dir != "" {
		return filepath.Join(dir, name)
	}
	if runtime.GOOS == "windows" {
		if dir := getenv("APPDATA"); dir != "" {
			return filepath.Join(dir, "gcloud", name)
		}
		return ""
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".config", "gcloud", name)
	}
	return ""
}

// metadataTokenSource fetches access tokens from the GCE metadata server (honouring
// GCE_METADATA_HOST) with a client on the relay's transport.
type metadataTokenSource struct {
	ctx    context.Context
	client *metadata.Client
}

// Token implements oauth2.TokenSource.
func (m *metadataTokenSource) Token() (*oauth2.Token, error) {
	suffix := "instance/service-accounts/default/token?" + url.Values{"scopes": {googleScope}}.Encode()
	ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
	defer cancel()
	raw, err := m.client.GetWithContext(ctx, suffix)
	if err != nil {
		return nil, fmt.Errorf("metadata server: %w", err)
	}
	var res struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal([]byte(raw), &res); err != nil {
		return nil, fmt.Errorf("metadata server: invalid token JSON: %w", err)
	}
	if res.AccessToken == "" || res.ExpiresIn <= 0 {
		return nil, errors.New("metadata server: incomplete token")
	}
	return &oauth2.Token{
		AccessToken: res.AccessToken,
		TokenType:   res.TokenType,
		Expiry:      time.Now().Add(time.Duration(res.ExpiresIn) * time.Second),
	}, nil
}

// googleAuth puts a Google access token on Vertex requests.
type googleAuth struct {
	creds *googleCredentials
}

// Authenticate implements Authenticator.
func (a *googleAuth) Authenticate(_ context.Context, req *http.Request, _ []byte, _ *Call) error {
	tok, err := a.creds.ts.Token()
	if err != nil {
		return fmt.Errorf("vertex: google credentials (%s): %w", a.creds.source, err)
	}
	req.Header.Del("X-Api-Key")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.AccessToken))
	return nil
}
