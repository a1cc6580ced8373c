package config

// TypeFacts are what the relay knows about a provider type, independently of any configured
// provider: one table, read by the packages that act on a type (the adapters, pricing, the
// thinking-history rules, validation). What a type can do with each request feature is not
// here: that is the feature matrix (relay/features), count_tokens included.
type TypeFacts struct {
	// DefaultBaseURL is the documented base URL; "" when it is derived from other keys
	// (aws_region, azure_resource_name, gcp_region).
	DefaultBaseURL string
	// Auth is how a key is sent: "x-api-key", "bearer" (Authorization: Bearer), "aws"
	// (SigV4 or a Bedrock API key), "google" (OAuth2 access tokens). An Azure provider with
	// azure_auth: entra sends Entra ID tokens instead of its x-api-key.
	Auth string
	// KeyRequired says a provider of the type cannot authenticate without keys (anthropic
	// with subscription pass-through and azure with entra are the configured exceptions).
	KeyRequired bool
	// ClaudePlatform says the type serves Anthropic's Claude models under Claude's ids (its own
	// forms of them on the clouds) and verifies Claude's thinking signatures.
	ClaudePlatform bool
	// PriceTable names the built-in price table of its models (relay/pricing): anthropic, zai,
	// minimax, local (free: runs on the operator's machine).
	PriceTable string
}

// typeFacts is the table, by type.
var typeFacts = map[string]TypeFacts{
	TypeAnthropic: {DefaultBaseURL: "https://api.anthropic.com", Auth: "x-api-key", KeyRequired: true, ClaudePlatform: true, PriceTable: "anthropic"},
	TypeZAI:       {DefaultBaseURL: "https://api.z.ai/api/anthropic", Auth: "x-api-key", KeyRequired: true, PriceTable: "zai"},
	TypeMiniMax:   {DefaultBaseURL: "https://api.minimax.io/anthropic", Auth: "bearer", KeyRequired: true, PriceTable: "minimax"},
	TypeOllama:    {DefaultBaseURL: "http://localhost:11434", Auth: "x-api-key", PriceTable: "local"},
	TypeBedrock:   {Auth: "aws", ClaudePlatform: true, PriceTable: "anthropic"},
	TypeAzure:     {Auth: "x-api-key", KeyRequired: true, ClaudePlatform: true, PriceTable: "anthropic"},
	TypeVertex:    {Auth: "google", ClaudePlatform: true, PriceTable: "anthropic"},
}

// Facts returns the facts of a provider type; the zero TypeFacts for an unknown type.
func Facts(typ string) TypeFacts { return typeFacts[typ] }
