package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccrelay/ccrelay/relay/config"
)

// examplesDir holds the example configurations that the README points to.
const examplesDir = "../../fixtures/configs/examples"

func TestEveryExampleConfigurationLoadsWithoutProblemsOrWarnings(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d examples in %s, want at least 4", len(files), examplesDir)
	}
	// The variables the examples read, set as a user would; the optional ones are left
	// empty so that their documented defaults apply.
	for name, v := range map[string]string{
		"ANTHROPIC_API_KEY":    "test-anthropic-key",
		"ZAI_API_KEY":          "test-zai-key",
		"GOOGLE_CLOUD_PROJECT": "test-project",
		"CCRELAY_OLLAMA_MODEL": "",
		"AWS_REGION":           "",
		"CLOUD_ML_REGION":      "",
		"CCRELAY_CONFIG":       "",
	} {
		t.Setenv(name, v)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatalf("%s does not load:\n%v", path, err)
			}
			if len(cfg.Warnings) > 0 {
				t.Errorf("%s loads with warnings:\n%s", path, strings.Join(cfg.Warnings, "\n"))
			}
			code, out, errs := runCLI(t, "config", "validate", path)
			if code != 0 {
				t.Errorf("config validate %s: exit status %d\n%s%s", path, code, out, errs)
			}
			golden(t, "example-"+name+".golden", "$ ccrelay config validate "+path+"\n"+out+errs)
		})
	}
}
