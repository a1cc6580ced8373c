package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/ccrelay/ccrelay/relay/config"
)

// bedrockSigningService is the SigV4 service name of bedrock-runtime.
const bedrockSigningService = "bedrock"

// bedrockAuth authenticates Bedrock requests with a Bedrock API key (Authorization: Bearer) or,
// failing one, a SigV4 signature over the final bytes.
type bedrockAuth struct {
	region string
	// bearer is the configured or environment Bedrock API key ("" when none).
	bearer string
	// creds is the SigV4 credential source, an *aws.CredentialsCache so that expiring
	// credentials refresh; nil when there is none.
	creds  aws.CredentialsProvider
	signer *v4.Signer
	now    func() time.Time
}

// newBedrockAuth chooses the credentials of a Bedrock provider, first match wins:
//
//  1. aws_bearer_token (a Bedrock API key);
//  2. aws_access_key_id + aws_secret_access_key (+ aws_session_token);
//  3. AWS_BEARER_TOKEN_BEDROCK from the environment;
//  4. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) from the environment;
//  5. the AWS SDK default chain (environment, shared config and credentials files with
//     aws_profile or AWS_PROFILE, web identity, SSO, container and instance roles), whose HTTP
//     calls use env.Transport.
//
// Environment lookups go through env.Getenv. Nothing is fetched here: credentials are retrieved
// (and cached, and refreshed when they expire) on the first request. A Call.Key, when the relay
// leases one from the provider's key pool, is used as a Bedrock API key and wins over all these.
func newBedrockAuth(ctx context.Context, cfg config.Provider, region string, env Env) (*bedrockAuth, error) {
	getenv := getenvFunc(env)
	switch {
	case cfg.AWSBearerToken != "":
		return newBedrockAuthWith(region, cfg.AWSBearerToken, nil), nil
	case cfg.AWSAccessKeyID != "" || cfg.AWSSecretAccessKey != "":
		if cfg.AWSAccessKeyID == "" || cfg.AWSSecretAccessKey == "" {
			return nil, errors.New("bedrock: aws_access_key_id and aws_secret_access_key go together")
		}
		return newBedrockAuthWith(region, "", credentials.NewStaticCredentialsProvider(
			cfg.AWSAccessKeyID, cfg.AWSSecretAccessKey, cfg.AWSSessionToken)), nil
	}
	if tok := firstEnv(getenv, "AWS_BEARER_TOKEN_BEDROCK"); tok != "" {
		return newBedrockAuthWith(region, tok, nil), nil
	}
	if id, secret := firstEnv(getenv, "AWS_ACCESS_KEY_ID"), firstEnv(getenv, "AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		return newBedrockAuthWith(region, "", credentials.NewStaticCredentialsProvider(
			id, secret, firstEnv(getenv, "AWS_SESSION_TOKEN"))), nil
	}

	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region)}
	profile := cfg.AWSProfile
	if profile == "" {
		profile = firstEnv(getenv, "AWS_PROFILE")
	}
	if profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	}
	var awsCfg aws.Config
	var err error
	if env.Transport != nil {
		awsCfg, err = awsconfig.LoadDefaultConfig(ctx, append(opts, awsconfig.WithHTTPClient(httpClient(env)))...)
		if err != nil {
			// A custom CA bundle (AWS_CA_BUNDLE, ca_bundle) can only be installed in the SDK's own
			// client: fall back to it rather than fail.
			if cfg2, err2 := awsconfig.LoadDefaultConfig(ctx, opts...); err2 == nil {
				awsCfg, err = cfg2, nil
			}
		}
	} else {
		awsCfg, err = awsconfig.LoadDefaultConfig(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("bedrock: load AWS configuration: %w", err)
	}
	return newBedrockAuthWith(region, "", awsCfg.Credentials), nil
}

// newBedrockAuthWith builds a bedrockAuth from a bearer token or a credentials provider, which
// it wraps in an aws.CredentialsCache unless it already is one.
func newBedrockAuthWith(region, bearer string, p aws.CredentialsProvider) *bedrockAuth {
	a := &bedrockAuth{region: region, bearer: bearer, signer: v4.NewSigner(), now: time.Now}
	if p != nil {
		if _, ok := p.(*aws.CredentialsCache); !ok {
			p = aws.NewCredentialsCache(p)
		}
		a.creds = p
	}
	return a
}

// Authenticate implements Authenticator. SigV4 signs the headers as they are now and the hex
// SHA-256 of body, so nothing may change the request afterwards.
//
// The provider's keys[] are not Bedrock credentials: the product documentation's Bedrock
// example lists `key: "bedrock-internal"  # Internal key for cc-relay auth`, an entry of the key
// pool that carries rpm/tpm limits. So Call.Key is never sent; a Bedrock API key comes only
// from aws_bearer_token or AWS_BEARER_TOKEN_BEDROCK.
func (a *bedrockAuth) Authenticate(ctx context.Context, req *http.Request, body []byte, _ *Call) error {
	for _, h := range []string{"Authorization", "X-Api-Key", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"} {
		req.Header.Del(h)
	}
	if token := a.bearer; token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
	if a.creds == nil {
		return errors.New("bedrock: no credentials: set aws_bearer_token or AWS keys, or configure the AWS default credential chain")
	}
	cr, err := a.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("bedrock: retrieve AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := a.signer.SignHTTP(ctx, cr, req, hex.EncodeToString(sum[:]), bedrockSigningService, a.region, a.now()); err != nil {
		return fmt.Errorf("bedrock: sign request: %w", err)
	}
	return nil
}
