package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Microsoft Entra ID settings for Azure AI Foundry (wire.md B.4).
const (
	azureScope            = "https://ai.azure.com/.default"
	azureDefaultAuthority = "https://login.microsoftonline.com"
	// azureEarlyExpiry is how long before expiry an Entra token is replaced.
	azureEarlyExpiry = time.Minute
	// azureCommandTTL is how long a token printed without an expiry is reused.
	azureCommandTTL = 5 * time.Minute
	// azureCommandTimeout bounds one run of azure_token_command.
	azureCommandTimeout = time.Minute
)

// azureEntraAuth puts a Microsoft Entra ID bearer token on Azure AI Foundry requests instead of
// the API key.
type azureEntraAuth struct {
	ts oauth2.TokenSource
}

// newAzureEntraAuth builds the Authenticator for azure_auth: entra. With azure_token_command it
// runs that command for tokens; otherwise it uses the client-credentials flow with
// AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET against
// {AZURE_AUTHORITY_HOST or https://login.microsoftonline.com}/{tenant}/oauth2/v2.0/token, scope
// https://ai.azure.com/.default, over env.Transport. Tokens are cached and replaced a minute
// before they expire.
func newAzureEntraAuth(cfg config.Provider, env Env) (Authenticator, error) {
	if cmd := strings.TrimSpace(cfg.AzureTokenCommand); cmd != "" {
		src := &commandTokenSource{command: cmd, now: time.Now}
		return &azureEntraAuth{ts: oauth2.ReuseTokenSourceWithExpiry(nil, src, azureEarlyExpiry)}, nil
	}
	getenv := getenvFunc(env)
	tenant, id, secret := firstEnv(getenv, "AZURE_TENANT_ID"), firstEnv(getenv, "AZURE_CLIENT_ID"), firstEnv(getenv, "AZURE_CLIENT_SECRET")
	if tenant == "" || id == "" || secret == "" {
		return nil, errors.New("azure_auth entra needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or azure_token_command")
	}
	authority := firstEnv(getenv, "AZURE_AUTHORITY_HOST")
	if authority == "" {
		authority = azureDefaultAuthority
	}
	au, err := url.Parse(strings.TrimRight(authority, "/"))
	if err != nil || (au.Scheme != "https" && au.Scheme != "http") || au.Host == "" {
		return nil, fmt.Errorf("azure: AZURE_AUTHORITY_HOST %q: want an absolute http or https URL", authority)
	}
	cc := clientcredentials.Config{
		ClientID:     id,
		ClientSecret: secret,
		TokenURL:     au.String() + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token",
		Scopes:       []string{azureScope},
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, httpClient(env))
	return &azureEntraAuth{ts: oauth2.ReuseTokenSourceWithExpiry(nil, cc.TokenSource(ctx), azureEarlyExpiry)}, nil
}

// Authenticate implements Authenticator.
func (a *azureEntraAuth) Authenticate(_ context.Context, req *http.Request, _ []byte, _ *Call) error {
	tok, err := a.ts.Token()
	if err != nil {
		return fmt.Errorf("azure entra token: %w", err)
	}
	req.Header.Del("X-Api-Key")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return nil
}

// commandTokenSource runs a shell command that prints an access token: either the bare token,
// or JSON such as `az account get-access-token` prints ({"accessToken", "expiresOn"} or
// {"access_token", "expires_on"}).
type commandTokenSource struct {
	command string
	now     func() time.Time
}

// Token implements oauth2.TokenSource.
func (s *commandTokenSource) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), azureCommandTimeout)
	defer cancel()
	var cmd *exec.Cmd
	if runtime.GOOS == "windows" {
		cmd = exec.CommandContext(ctx, "cmd", "/C", s.command)
	} else {
		cmd = exec.CommandContext(ctx, "sh", "-c", s.command)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("azure_token_command: %w: %s", err, truncate(strings.TrimSpace(stderr.String()), 300))
	}
	return parseCommandToken(stdout.Bytes(), s.now())
}

// parseCommandToken reads the token a command printed; a token without an expiry is given
// azureCommandTTL.
func parseCommandToken(out []byte, now time.Time) (*oauth2.Token, error) {
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		return nil, errors.New("azure_token_command printed nothing")
	}
	if out[0] != '{' {
		tok := string(out)
		if strings.ContainsAny(tok, " \t\r\n") {
			return nil, errors.New("azure_token_command printed more than one token (want one token or a JSON object)")
		}
		return &oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: now.Add(azureCommandTTL)}, nil
	}
	var f struct {
		AccessToken  string          `json:"accessToken"`
		AccessToken2 string          `json:"access_token"`
		ExpiresOn    string          `json:"expiresOn"`
		ExpiresOn2   json.RawMessage `json:"expires_on"`
	}
	if err := json.Unmarshal(out, &f); err != nil {
		return nil, fmt.Errorf("azure_token_command printed invalid JSON: %w", err)
	}
	tok := &oauth2.Token{AccessToken: f.AccessToken, TokenType: "Bearer", Expiry: now.Add(azureCommandTTL)}
	if tok.AccessToken == "" {
		tok.AccessToken = f.AccessToken2
	}
	if tok.AccessToken == "" {
		return nil, errors.New("azure_token_command printed JSON without accessToken")
	}
	if exp, ok := parseExpiresOn(f.ExpiresOn2, f.ExpiresOn); ok {
		tok.Expiry = exp
	}
	return tok, nil
}

// parseExpiresOn reads expires_on (Unix seconds, number or string) or expiresOn (az's local
// "2006-01-02 15:04:05.999999", or RFC 3339).
func parseExpiresOn(unix json.RawMessage, local string) (time.Time, bool) {
	if s := strings.Trim(string(unix), `" `); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			return time.Unix(n, 0), true
		}
	}
	if local == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, local); err == nil {
		return t, true
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", local, time.Local); err == nil {
		return t, true
	}
	return time.Time{}, false
}
