package main

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVersionTextSaysWhatTheBuildInfoKnows(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "-compiler", Value: "gc"}, {Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		want     string
	}{
		{
			name: "a release installed with go install has a version and no revision",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/ccrelay/ccrelay", Version: "v1.2.3"}},
			want: "ccrelay v1.2.3\nrevision unknown (this binary was built without version control information)\ngo go1.26.8\n",
		},
		{
			name: "a build from a clean checkout names its commit",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261205033858-7ea26ec92804"},
				Settings: vcs("7ea26ec928040ccd15113c9ec39c36a21cfca787", "false")},
			want: "ccrelay v0.0.0-20261205033858-7ea26ec92804\nrevision 7ea26ec928040ccd15113c9ec39c36a21cfca787\ngo go1.26.8\n",
		},
		{
			name: "a build with uncommitted changes says it is modified",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
				Settings: vcs("7ea26ec928040ccd15113c9ec39c36a21cfca787", "true")},
			want: "ccrelay (devel)\nrevision 7ea26ec928040ccd15113c9ec39c36a21cfca787 (modified: built with uncommitted changes)\ngo go1.26.8\n",
		},
		{
			name: "a pseudo-version without VCS settings gives its abbreviated commit",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261205033858-7ea26ec92804"}},
			want: "ccrelay v0.0.0-20261205033858-7ea26ec92804\nrevision 7ea26ec92804 (from the pseudo-version)\ngo go1.26.8\n",
		},
		{
			name: "go run from a checkout is (devel) with an unknown revision",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: "ccrelay (devel)\nrevision unknown (this binary was built without version control information)\ngo go1.26.8\n",
		},
		{
			name:     "an -ldflags version wins over the module version",
			bi:       &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("abc", "false")},
			override: "v9.9.9",
			want:     "ccrelay v9.9.9\nrevision abc\ngo go1.26.8\n",
		},
		{
			name: "no build information at all",
			want: "ccrelay (devel)\nrevision unknown (this binary was built without version control information)\ngo unknown\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, versionText(tt.bi, tt.override)); diff != "" {
				t.Errorf("versionText (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVersionCommandAndFlagPrintTheSameThing(t *testing.T) {
	bi, _ := debug.ReadBuildInfo()
	want := versionText(bi, version)
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		code, out, errs := runCLI(t, args...)
		if code != 0 || out != want || errs != "" {
			t.Errorf("ccrelay %s: status %d, stdout %q, stderr %q; want 0 and %q", strings.Join(args, " "), code, out, errs, want)
		}
	}
}

func TestUnknownCommandsAreUsageErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantName string
		wantList []string
	}{
		{"an unknown top-level command", []string{"srve"}, `unknown command "srve"; the commands of ccrelay are:`, []string{"serve", "config", "matrix", "conform", "version"}},
		{"help for an unknown command", []string{"help", "validate"}, `unknown command "validate"; the commands of ccrelay are:`, []string{"serve", "config"}},
		{"an unknown subcommand of config", []string{"config", "check"}, `unknown command "check"; the commands of ccrelay config are:`, []string{"validate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCLI(t, tt.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.HasPrefix(errs, "ccrelay: "+tt.wantName+"\n") {
				t.Errorf("stderr does not start with %q:\n%s", tt.wantName, errs)
			}
			for _, c := range tt.wantList {
				if !strings.Contains(errs, "\n  "+c+" ") {
					t.Errorf("stderr does not list %q:\n%s", c, errs)
				}
			}
		})
	}
}
