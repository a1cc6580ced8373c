package features

import "github.com/ccrelay/ccrelay/relay/config"

// init makes configuration validation check every provider's `features:` overrides against
// the matrix, so that an unknown feature or action fails `ccrelay config validate` and
// `ccrelay serve` with the list of valid names.
func init() {
	config.FeatureValidator = func(_ string, overrides map[string]string) error {
		return ValidateOverrides(overrides)
	}
}
