package main

import (
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise the module
// version from the build info is used.
var version = ""

func init() {
	// ccrelay --version prints what ccrelay version prints. VersionPrinter is the package's
	// only hook for it; it is set once, before any App runs.
	cli.VersionPrinter = func(c *cli.Context) { writeVersion(c.App.Writer) }
}

// versionCommand is `ccrelay version`.
func versionCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:        "version",
		Usage:       "print the version and the source revision it was built from",
		Description: "Prints the module version, the VCS revision (with \"modified\" when the checkout had uncommitted\nchanges) and the Go version. A binary built without version information says so: (devel), unknown.",
		Action: func(*cli.Context) error {
			writeVersion(stdout)
			return nil
		},
	}
}

// writeVersion prints the version of the running binary.
func writeVersion(w io.Writer) {
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprint(w, versionText(bi, version))
}

// buildVersion is the version shown in --help: the -ldflags version, else the module version,
// else "(devel)".
func buildVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return moduleVersion(bi, version)
}

// moduleVersion returns override when set, else the main module's version from bi, else
// "(devel)", which is also what the go command records for a build from a checkout.
func moduleVersion(bi *debug.BuildInfo, override string) string {
	switch {
	case override != "":
		return override
	case bi != nil && bi.Main.Version != "":
		return bi.Main.Version
	}
	return "(devel)"
}

// pseudoVersionRE matches the end of a Go pseudo-version (v0.0.0-20261205033858-7ea26ec92804),
// whose last part is the commit's abbreviated hash.
var pseudoVersionRE = regexp.MustCompile(`\d{14}-([0-9a-f]{12})(\+dirty)?$`)

// versionText formats what `ccrelay version` prints from the build information bi (nil when the
// binary has none) and the -ldflags override: the version, the VCS revision and whether the
// checkout was modified, and the Go version. What bi does not say is printed as unknown.
func versionText(bi *debug.BuildInfo, override string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ccrelay %s\n", moduleVersion(bi, override))
	var revision, modified, goVersion string
	if bi != nil {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
	}
	switch {
	case revision != "" && modified == "true":
		fmt.Fprintf(&b, "revision %s (modified: built with uncommitted changes)\n", revision)
	case revision != "":
		fmt.Fprintf(&b, "revision %s\n", revision)
	case bi != nil && pseudoVersionRE.MatchString(bi.Main.Version):
		m := pseudoVersionRE.FindStringSubmatch(bi.Main.Version)
		fmt.Fprintf(&b, "revision %s (from the pseudo-version)\n", m[1])
	default:
		b.WriteString("revision unknown (this binary was built without version control information)\n")
	}
	if goVersion == "" {
		goVersion = "unknown"
	}
	fmt.Fprintf(&b, "go %s\n", goVersion)
	return b.String()
}

// commandList lists the commands a user can run, one per line with its usage, for the
// unknown-command message.
func commandList(cmds []*cli.Command) string {
	var b strings.Builder
	width := 0
	visible := slices.DeleteFunc(slices.Clone(cmds), func(c *cli.Command) bool { return c.Hidden })
	for _, c := range visible {
		width = max(width, len(c.Name))
	}
	for _, c := range visible {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, c.Name, c.Usage)
	}
	return b.String()
}
