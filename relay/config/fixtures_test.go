package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixtureDir holds the configurations of the seed document.
const fixtureDir = "../../fixtures/configs"

// dummyEnv sets every variable the fixtures use to a dummy value.
func dummyEnv(name string) (string, bool) {
	switch name {
	case "ANTHROPIC_API_KEY", "ZAI_API_KEY", "MINIMAX_API_KEY", "AZURE_API_KEY",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GOOGLE_CLOUD_PROJECT":
		return "dummy-" + strings.ToLower(name), true
	}
	return "", false
}

// fixtureNames lists the fixtures, one pair per YAML and TOML block of the seed document.
var fixtureNames = []string{
	"01-anthropic",
	"02-subscription",
	"03-zai",
	"04-zai-model-mapping",
	"05-ollama",
	"06-ollama-docker",
	"07-bedrock",
	"08-azure",
	"09-azure-deployment-names",
	"10-vertex",
	"11-minimax",
	"12-minimax-model-mapping",
	"13-model-mapping",
	"14-multi-provider",
	"15-troubleshooting-models",
}

func TestFixtureDirectoryHoldsExactlyTheSeedPairs(t *testing.T) {
	var want []string
	for _, n := range fixtureNames {
		want = append(want, n+".toml", n+".yaml")
	}
	entries, err := os.ReadDir(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.IsDir() {
			continue // examples/: the README's example configurations, tested in cmd/ccrelay
		}
		got = append(got, e.Name())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fixture files (-want +got):\n%s", diff)
	}
}

func TestEveryFixtureLoadsAndMatchesItsGoldenFile(t *testing.T) {
	for _, name := range fixtureNames {
		for _, ext := range []string{".yaml", ".toml"} {
			t.Run(name+ext, func(t *testing.T) {
				cfg, err := LoadWith(filepath.Join(fixtureDir, name+ext), dummyEnv)
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				if err := cfg.Validate(); err != nil {
					t.Fatalf("validate again: %v", err)
				}
				got, err := json.MarshalIndent(cfg, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				golden(t, filepath.Join("testdata", "fixtures", name+ext+".json"), append(got, '\n'))
			})
		}
	}
}

func TestYAMLAndTOMLTwinsDecodeToTheSameConfig(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			y, err := LoadWith(filepath.Join(fixtureDir, name+".yaml"), dummyEnv)
			if err != nil {
				t.Fatalf("yaml: %v", err)
			}
			tm, err := LoadWith(filepath.Join(fixtureDir, name+".toml"), dummyEnv)
			if err != nil {
				t.Fatalf("toml: %v", err)
			}
			if diff := cmp.Diff(y, tm, cmpopts.IgnoreFields(Config{}, "Source", "Warnings")); diff != "" {
				t.Errorf("yaml and toml differ (-yaml +toml):\n%s", diff)
			}
		})
	}
}

func TestTOMLModelsQuirkIsAcceptedWithExactlyOneWarning(t *testing.T) {
	fix := " it was used as the provider's models list. Fix: move the models = [...] line above the first [[providers.keys]] (or [providers.model_mapping]) table."
	tests := []struct {
		name string
		want []string
	}{
		{"01-anthropic", []string{fixtureDir + "/01-anthropic.toml:17: providers[0].keys[0].models: TOML put \"models\" inside [[providers.keys]];" + fix}},
		{"03-zai", []string{fixtureDir + "/03-zai.toml:22: providers[0].model_mapping.models: TOML put \"models\" inside [providers.model_mapping];" + fix}},
		{"05-ollama", []string{fixtureDir + "/05-ollama.toml:22: providers[0].model_mapping.models: TOML put \"models\" inside [providers.model_mapping];" + fix}},
		{"11-minimax", []string{fixtureDir + "/11-minimax.toml:23: providers[0].model_mapping.models: TOML put \"models\" inside [providers.model_mapping];" + fix}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadWith(filepath.Join(fixtureDir, tt.name+".toml"), dummyEnv)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, cfg.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if len(cfg.Providers[0].Models) == 0 {
				t.Errorf("models were not moved to the provider")
			}
			y, err := LoadWith(filepath.Join(fixtureDir, tt.name+".yaml"), dummyEnv)
			if err != nil {
				t.Fatal(err)
			}
			if len(y.Warnings) != 0 {
				t.Errorf("yaml twin has warnings: %q", y.Warnings)
			}
		})
	}
}

// seedRE reads the seed line range and the "verbatim" claim of a fixture's first line.
var seedRE = regexp.MustCompile(`^# Seed: shared/seed/providers\.ko\.txt lines (\d+)-(\d+) \(.*\), verbatim\.$`)

func TestVerbatimFixturesMatchTheSeedDocument(t *testing.T) {
	seed, err := os.ReadFile("../../../shared/seed/providers.ko.txt")
	if err != nil {
		t.Skipf("seed document not available: %v", err)
	}
	seedLines := strings.Split(string(seed), "\n")
	checked := 0
	for _, name := range fixtureNames {
		for _, ext := range []string{".yaml", ".toml"} {
			data, err := os.ReadFile(filepath.Join(fixtureDir, name+ext))
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			m := seedRE.FindStringSubmatch(first)
			if m == nil {
				continue
			}
			from, _ := strconv.Atoi(m[1])
			to, _ := strconv.Atoi(m[2])
			want := strings.Join(seedLines[from-1:to], "\n") + "\n"
			if !strings.HasSuffix(string(data), "\n\n"+want) {
				t.Errorf("%s%s: body is not seed lines %d-%d verbatim", name, ext, from, to)
			}
			checked++
		}
	}
	if checked < 18 {
		t.Errorf("checked %d verbatim fixtures, want at least 18", checked)
	}
}

// golden compares got with the file at path, or rewrites the file under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update): %v", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}
