package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindSearchesInOrder(t *testing.T) {
	tests := []struct {
		name    string
		flag    string
		env     map[string]string // values may use $TMP for the test's directory
		files   []string          // created relative to the test's directory
		want    string            // relative to the test's directory; "" for none
		wantErr string
	}{
		{name: "nothing anywhere finds nothing", env: map[string]string{"HOME": "$TMP/home"}},
		{name: "the flag wins over everything", flag: "my.yaml",
			env:   map[string]string{"CCRELAY_CONFIG": "$TMP/env.yaml"},
			files: []string{"work/my.yaml", "env.yaml", "work/ccrelay.yaml"}, want: "work/my.yaml"},
		{name: "CCRELAY_CONFIG wins over the working directory",
			env:   map[string]string{"CCRELAY_CONFIG": "$TMP/env.toml"},
			files: []string{"env.toml", "work/ccrelay.yaml"}, want: "env.toml"},
		{name: "ccrelay.yaml comes before ccrelay.yml and ccrelay.toml",
			files: []string{"work/ccrelay.yaml", "work/ccrelay.yml", "work/ccrelay.toml"}, want: "work/ccrelay.yaml"},
		{name: "ccrelay.yml comes before ccrelay.toml",
			files: []string{"work/ccrelay.yml", "work/ccrelay.toml"}, want: "work/ccrelay.yml"},
		{name: "the working directory comes before XDG_CONFIG_HOME",
			env:   map[string]string{"XDG_CONFIG_HOME": "$TMP/xdg"},
			files: []string{"work/ccrelay.toml", "xdg/ccrelay/config.yaml"}, want: "work/ccrelay.toml"},
		{name: "XDG config.yaml comes before config.toml",
			env:   map[string]string{"XDG_CONFIG_HOME": "$TMP/xdg"},
			files: []string{"xdg/ccrelay/config.toml", "xdg/ccrelay/config.yaml"}, want: "xdg/ccrelay/config.yaml"},
		{name: "XDG config.toml is found",
			env:   map[string]string{"XDG_CONFIG_HOME": "$TMP/xdg"},
			files: []string{"xdg/ccrelay/config.toml"}, want: "xdg/ccrelay/config.toml"},
		{name: "XDG_CONFIG_HOME defaults to HOME/.config",
			env:   map[string]string{"HOME": "$TMP/home"},
			files: []string{"home/.config/ccrelay/config.yaml"}, want: "home/.config/ccrelay/config.yaml"},
		{name: "a set XDG_CONFIG_HOME hides HOME/.config",
			env:   map[string]string{"HOME": "$TMP/home", "XDG_CONFIG_HOME": "$TMP/xdg"},
			files: []string{"home/.config/ccrelay/config.yaml"}},
		{name: "a missing flag path is an error", flag: "missing.yaml", files: []string{"work/ccrelay.yaml"},
			wantErr: "config: --config names missing.yaml, which does not exist"},
		{name: "a missing CCRELAY_CONFIG path is an error", env: map[string]string{"CCRELAY_CONFIG": "gone.toml"},
			files: []string{"work/ccrelay.yaml"}, wantErr: "config: CCRELAY_CONFIG names gone.toml, which does not exist"},
		{name: "a directory in place of the file is an error", files: []string{"work/ccrelay.yaml/"},
			wantErr: "config: ccrelay.yaml is a directory, not a configuration file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			work := filepath.Join(tmp, "work")
			for _, f := range append(tt.files, "work/") {
				p := filepath.Join(tmp, f)
				if strings.HasSuffix(f, "/") {
					if err := os.MkdirAll(p, 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("providers: []\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(work)
			vars := map[string]string{}
			for k, v := range tt.env {
				vars[k] = strings.ReplaceAll(v, "$TMP", tmp)
			}
			got, err := Find(tt.flag, env(vars))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if got != "" {
					t.Errorf("got %q, want nothing", got)
				}
				return
			}
			abs := got
			if !filepath.IsAbs(abs) {
				abs = filepath.Join(work, got)
			}
			if want := filepath.Join(tmp, tt.want); abs != want {
				t.Errorf("got %q, want %q", abs, want)
			}
		})
	}
}

func TestLoadReadsTheFileFromDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ccrelay.yml")
	if err := os.WriteFile(path, []byte("providers:\n- {name: o, type: ollama}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source != path || len(cfg.Providers) != 1 {
		t.Errorf("got source %q and %d providers", cfg.Source, len(cfg.Providers))
	}
	if _, err := Load(filepath.Join(dir, "absent.yaml")); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want a not-exist error", err)
	}
	if _, err := Parse(nil, "ccrelay.json", nil); err == nil || err.Error() != `config: ccrelay.json: unsupported file extension ".json": want .yaml, .yml or .toml` {
		t.Errorf("got %v", err)
	}
}
