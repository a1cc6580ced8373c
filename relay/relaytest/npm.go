package relaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// npmHarnessDir is the npm SDK harness, relative to the repository root: package.json pins
// @anthropic-ai/sdk, package-lock.json locks it, accumulate.mjs runs it.
const npmHarnessDir = "relay/testdata/npm"

// npmTimeout bounds one run of the harness.
const npmTimeout = 2 * time.Minute

// NPMDir returns the directory whose node_modules holds the npm SDK harness's packages:
// $CCRELAY_NPM_DIR when set, else ccrelay-npm in the user's cache directory
// ($XDG_CACHE_HOME or ~/.cache on Linux). The packages live outside the repository so that no
// node_modules sits in the work tree, where a careless `git add` would take it in.
func NPMDir() (string, error) {
	if d := os.Getenv("CCRELAY_NPM_DIR"); d != "" {
		return d, nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(c, "ccrelay-npm"), nil
}

// NPMInstallCommand returns the shell command that installs the harness's packages into
// NPMDir, as CI must run it (from the repository root) before the tests: it copies
// package.json and package-lock.json there and runs npm ci.
func NPMInstallCommand() string {
	return `d="${CCRELAY_NPM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ccrelay-npm}" && mkdir -p "$d" && ` +
		`cp ` + npmHarnessDir + `/package.json ` + npmHarnessDir + `/package-lock.json "$d"/ && ` +
		`npm ci --prefix "$d" --ignore-scripts --no-audit --no-fund`
}

// NPMAccumulate streams req, a Messages request body, from baseURL with the official Anthropic
// TypeScript SDK (client.messages.stream, API key "test-key", no retries) and returns the final
// message the SDK assembled, as JSON. It fails the test, with node's stderr, when the SDK throws.
//
// It skips the test, saying why and how to install them, when node is not on PATH or the
// harness's packages are not installed in NPMDir at the version package.json pins; with
// CCRELAY_NPM_REQUIRED=1 in the environment (set it in CI once the packages are installed) it
// fails instead.
func NPMAccumulate(t testing.TB, baseURL string, req []byte) (message []byte) {
	t.Helper()
	msg, err := NPMAccumulateErr(t, baseURL, req)
	if err != nil {
		t.Fatalf("relaytest: npm SDK: %v", err)
	}
	return msg
}

// NPMAccumulateErr is NPMAccumulate for tests that expect the SDK to fail: it returns an error
// holding node's stderr instead of failing the test. It skips the test as NPMAccumulate does.
func NPMAccumulateErr(t testing.TB, baseURL string, req []byte) (message []byte, err error) {
	t.Helper()
	script, dir := npmHarness(t)
	reqFile := filepath.Join(t.TempDir(), "request.json")
	if err := os.WriteFile(reqFile, req, 0o600); err != nil {
		t.Fatalf("relaytest: npm SDK: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, reqFile)
	// The SDK reads ANTHROPIC_* variables (a token would add an Authorization header): none
	// of the caller's reach it.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ANTHROPIC_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "BASE_URL="+baseURL, "API_KEY=test-key", "CCRELAY_NPM_DIR="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s", npmTimeout)
		}
		return nil, fmt.Errorf("node %s: %v: %s", filepath.Base(script), err, strings.TrimSpace(stderr.String()))
	}
	out := bytes.TrimSpace(stdout.Bytes())
	if !json.Valid(out) {
		return nil, fmt.Errorf("node %s printed no JSON: %q (stderr %q)", filepath.Base(script), out, stderr.String())
	}
	return out, nil
}

// NPMReady reports whether NPMAccumulate can run here: nil, or an error saying what is missing
// and how to install it.
func NPMReady() error {
	_, _, err := npmSetup()
	return err
}

// npmHarness returns the harness script and the packages' directory, or skips the test (fails
// it under CCRELAY_NPM_REQUIRED=1).
func npmHarness(t testing.TB) (script, dir string) {
	t.Helper()
	script, dir, err := npmSetup()
	if err != nil {
		if os.Getenv("CCRELAY_NPM_REQUIRED") == "1" {
			t.Fatalf("relaytest: npm SDK (CCRELAY_NPM_REQUIRED=1): %v", err)
		}
		t.Skipf("relaytest: npm SDK: %v", err)
	}
	return script, dir
}

// npmSetup finds node, the harness script and the packages' directory.
func npmSetup() (script, dir string, err error) {
	root, err := repoRoot()
	if err != nil {
		return "", "", err
	}
	harness := filepath.Join(root, filepath.FromSlash(npmHarnessDir))
	if _, err := exec.LookPath("node"); err != nil {
		return "", "", errors.New("node is not on PATH (install Node.js 18 or later)")
	}
	if dir, err = NPMDir(); err != nil {
		return "", "", fmt.Errorf("no directory for the npm packages: %v; set CCRELAY_NPM_DIR", err)
	}
	want, err := pinnedSDK(filepath.Join(harness, "package.json"))
	if err != nil {
		return "", "", err
	}
	installed, err := pinnedSDK(filepath.Join(dir, "node_modules", "@anthropic-ai", "sdk", "package.json"))
	if err != nil || installed != want {
		got := "it is not installed"
		if err == nil {
			got = "version " + installed + " is installed"
		}
		return "", "", fmt.Errorf("@anthropic-ai/sdk %s is wanted in %s but %s; from %s run: %s",
			want, dir, got, root, NPMInstallCommand())
	}
	return filepath.Join(harness, "accumulate.mjs"), dir, nil
}

// pinnedSDK returns the @anthropic-ai/sdk version a package.json pins (the harness's) or is
// (the installed package's).
func pinnedSDK(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var p struct {
		Name         string
		Version      string
		Dependencies map[string]string
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return "", fmt.Errorf("%s: %v", path, err)
	}
	if p.Name == "@anthropic-ai/sdk" {
		return p.Version, nil
	}
	if v := p.Dependencies["@anthropic-ai/sdk"]; v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s does not pin @anthropic-ai/sdk", path)
}

// repoRoot returns the nearest ancestor of the working directory that holds go.mod and the npm
// harness.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) && isDir(filepath.Join(dir, filepath.FromSlash(npmHarnessDir))) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no ancestor of the working directory holds go.mod and " + npmHarnessDir)
		}
		dir = parent
	}
}
