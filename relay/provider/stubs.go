package provider

import (
	"context"
	"errors"

	"github.com/ccrelay/ccrelay/relay/config"
)

// newBedrock is replaced by bedrock.go.
func newBedrock(context.Context, *Provider, config.Provider, Env) error {
	return errors.New("bedrock is not implemented yet")
}

// newVertex is replaced by vertex.go.
func newVertex(context.Context, *Provider, config.Provider, Env) error {
	return errors.New("vertex is not implemented yet")
}
