package conformance

import (
	"fmt"
	"github.com/ccrelay/ccrelay/relay/provider"
	"net/url"
	"strings"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/tidwall/gjson"
	"gopkg.in/dnaeon/go-vcr.v2/cassette"
)

// Credentials of a replay. They never leave the process: the replay transport answers every
// request, and cassettes hold "REDACTED" where a credential was.
const (
	// clientKey is what the conformance client sends to the relay (server.auth.api_key). It
	// must never reach a provider.
	clientKey = "conformance-client-key"
	// providerKey is the upstream key of the providers that take one.
	providerKey = "conformance-provider-key"
	// awsKeyID and awsSecret are the fixed SigV4 credentials of a Bedrock replay.
	awsKeyID  = "CONFORMANCETESTKEYID"
	awsSecret = "conformance-test-secret-access-key"
)

// Placeholders that recorded cassettes carry instead of account-specific names; the replay
// configuration uses the same ones.
const (
	placeholderProject  = "example-project"
	placeholderResource = "example-resource"
	placeholderAccount  = "000000000000"
)

// upstream is what a cassette says about the provider the relay must call.
type upstream struct {
	// model is the upstream model id of the recorded request ("" without an interaction).
	model string
	// cfg is the provider configuration that makes the relay call the recorded URL.
	cfg config.Provider
}

// replayProvider returns the provider configuration of a replay: the provider type's test
// credentials, and the endpoint settings (region, project, resource, base URL) read from the
// cassette's recorded URL, so that the relay's own URL building is what is checked. Without an
// interaction it returns the type's defaults.
func replayProvider(providerType string, ix *cassette.Interaction) (upstream, error) {
	p := config.Provider{Name: providerType, Type: providerType}
	switch providerType {
	case config.TypeBedrock:
		p.AWSRegion = "us-east-1"
		p.AWSAccessKeyID, p.AWSSecretAccessKey = awsKeyID, awsSecret
	case config.TypeVertex:
		p.GCPProjectID, p.GCPRegion = placeholderProject, "us-east5"
	case config.TypeAzure:
		p.AzureResourceName = placeholderResource
		p.Keys = []config.Key{{Key: providerKey}}
	case config.TypeAnthropic, config.TypeZAI, config.TypeMiniMax, config.TypeOllama:
		p.Keys = []config.Key{{Key: providerKey}}
	default:
		return upstream{}, fmt.Errorf("conformance: unknown provider type %q", providerType)
	}
	if ix == nil {
		return upstream{cfg: p}, nil
	}
	u, err := url.Parse(ix.Request.URL)
	if err != nil || u.Host == "" {
		return upstream{}, fmt.Errorf("conformance: recorded url %q is not absolute", ix.Request.URL)
	}
	up := upstream{cfg: p}
	switch providerType {
	case config.TypeBedrock:
		err = up.bedrock(u)
	case config.TypeVertex:
		err = up.vertex(u, []byte(ix.Request.Body))
	case config.TypeAzure:
		err = up.azure(u, []byte(ix.Request.Body))
	default:
		err = up.compatible(u, []byte(ix.Request.Body))
	}
	return up, err
}

// bedrock reads /model/{id}/{action} and the region of bedrock-runtime.{region}.amazonaws.com.
func (up *upstream) bedrock(u *url.URL) error {
	segs := strings.Split(u.EscapedPath(), "/")
	prefix := ""
	for i := 0; i+2 < len(segs); i++ {
		if segs[i] == "model" {
			id, err := url.PathUnescape(segs[i+1])
			if err != nil {
				return fmt.Errorf("conformance: recorded bedrock model id %q: %w", segs[i+1], err)
			}
			up.model, prefix = id, strings.Join(segs[:i], "/")
			break
		}
	}
	if up.model == "" {
		return fmt.Errorf("conformance: recorded bedrock path %q has no /model/{id}/", u.Path)
	}
	host := strings.ToLower(u.Host)
	region, ok := strings.CutPrefix(host, "bedrock-runtime.")
	if ok && strings.HasSuffix(region, ".amazonaws.com") && prefix == "" {
		up.cfg.AWSRegion = strings.TrimSuffix(region, ".amazonaws.com")
		return nil
	}
	up.cfg.BaseURL = u.Scheme + "://" + u.Host + prefix
	return nil
}

// vertex reads /v1/projects/{p}/locations/{r}/publishers/anthropic/models/{model}:{method}; the
// model of count-tokens:rawPredict is in the body.
func (up *upstream) vertex(u *url.URL, body []byte) error {
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(segs) < 9 || segs[1] != "projects" || segs[3] != "locations" || segs[7] != "models" {
		return fmt.Errorf("conformance: recorded vertex path %q is not /v1/projects/P/locations/R/publishers/anthropic/models/M:method", u.Path)
	}
	up.cfg.GCPProjectID, up.cfg.GCPRegion = segs[2], segs[4]
	model, _, _ := strings.Cut(segs[8], ":")
	if model == "count-tokens" {
		model = gjson.GetBytes(body, "model").String()
	}
	up.model = model
	if !strings.EqualFold(u.Host, provider.VertexHost(up.cfg.GCPRegion)) {
		up.cfg.BaseURL = u.Scheme + "://" + u.Host
	}
	return nil
}

// azure reads the resource of {resource}.services.ai.azure.com/anthropic.
func (up *upstream) azure(u *url.URL, body []byte) error {
	up.model = gjson.GetBytes(body, "model").String()
	host := strings.ToLower(u.Host)
	if res, ok := strings.CutSuffix(host, ".services.ai.azure.com"); ok && strings.HasPrefix(u.Path, "/anthropic/") {
		up.cfg.AzureResourceName = res
		return nil
	}
	return up.compatible(u, body)
}

// compatible reads the base URL in front of /v1/messages; the default base URL of the type is
// left unset so that the default is what is checked.
func (up *upstream) compatible(u *url.URL, body []byte) error {
	up.model = gjson.GetBytes(body, "model").String()
	i := strings.Index(u.Path, "/v1/messages")
	if i < 0 {
		return fmt.Errorf("conformance: recorded path %q has no /v1/messages", u.Path)
	}
	base := u.Scheme + "://" + u.Host + u.Path[:i]
	if base != config.DefaultBaseURL(up.cfg.Type) {
		up.cfg.BaseURL = base
	}
	return nil
}

// replayConfig is the relay configuration of one replay: one provider, the client key, the
// model mapping from the client's model to the recorded one, and feature overrides.
func replayConfig(p config.Provider, clientModel, upstreamModel string, overrides map[string]string) *config.Config {
	if upstreamModel != "" && clientModel != "" && clientModel != upstreamModel {
		p.ModelMapping = map[string]string{clientModel: upstreamModel}
	}
	if len(overrides) > 0 {
		p.Features = overrides
	}
	cfg := &config.Config{
		Server:    config.Server{Auth: config.Auth{APIKey: clientKey}},
		Providers: []config.Provider{p},
	}
	cfg.ApplyDefaults()
	return cfg
}

// hermeticGetenv is the environment of a replay: empty, so that no credential or setting of
// the machine running the suite leaks in.
func hermeticGetenv(string) string { return "" }
