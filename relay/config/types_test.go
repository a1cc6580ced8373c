package config

import (
	"slices"
	"testing"
)

func TestEveryTypeHasFacts(t *testing.T) {
	for _, typ := range Types {
		f, ok := typeFacts[typ]
		if !ok {
			t.Errorf("%s: no facts", typ)
			continue
		}
		if !slices.Contains([]string{"x-api-key", "bearer", "aws", "google"}, f.Auth) {
			t.Errorf("%s: auth %q", typ, f.Auth)
		}
		if !slices.Contains([]string{"anthropic", "zai", "minimax", "local"}, f.PriceTable) {
			t.Errorf("%s: price table %q", typ, f.PriceTable)
		}
		derived := typ == TypeBedrock || typ == TypeAzure || typ == TypeVertex
		if (f.DefaultBaseURL == "") != derived {
			t.Errorf("%s: default base URL %q", typ, f.DefaultBaseURL)
		}
	}
	if len(typeFacts) != len(Types) {
		t.Errorf("%d facts for %d types", len(typeFacts), len(Types))
	}
}
