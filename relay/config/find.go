package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Find returns the configuration file to load. It looks, in order, at flagPath (the --config
// flag), $CCRELAY_CONFIG, ./ccrelay.yaml, ./ccrelay.yml, ./ccrelay.toml, then
// $XDG_CONFIG_HOME/ccrelay/config.yaml and config.toml (XDG_CONFIG_HOME defaults to
// $HOME/.config). It returns "" and nil when no file exists; a flagPath or $CCRELAY_CONFIG that
// does not exist is an error.
func Find(flagPath string, lookup func(string) (string, bool)) (string, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	if flagPath != "" {
		return explicit(flagPath, "--config")
	}
	if p, ok := lookup("CCRELAY_CONFIG"); ok && p != "" {
		return explicit(p, "CCRELAY_CONFIG")
	}
	candidates := []string{"ccrelay.yaml", "ccrelay.yml", "ccrelay.toml"}
	dir, ok := lookup("XDG_CONFIG_HOME")
	if !ok || dir == "" {
		if home, ok := lookup("HOME"); ok && home != "" {
			dir = filepath.Join(home, ".config")
		}
	}
	if dir != "" {
		candidates = append(candidates,
			filepath.Join(dir, "ccrelay", "config.yaml"),
			filepath.Join(dir, "ccrelay", "config.toml"))
	}
	for _, c := range candidates {
		found, err := isFile(c)
		if err != nil {
			return "", err
		}
		if found {
			return c, nil
		}
	}
	return "", nil
}

// explicit checks a path that the user named, by flag or environment variable (from says which).
func explicit(path, from string) (string, error) {
	found, err := isFile(path)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("config: %s names %s, which does not exist", from, path)
	}
	return path, nil
}

// isFile reports whether path exists as a file. A directory or an unreadable path is an error.
func isFile(path string) (bool, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("config: %w", err)
	}
	if st.IsDir() {
		return false, fmt.Errorf("config: %s is a directory, not a configuration file", path)
	}
	return true, nil
}
