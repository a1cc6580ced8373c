package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/features"
	"github.com/urfave/cli/v2"
)

func matrixCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "matrix",
		Usage: "print the feature matrix: what each provider type supports, and what the relay does about the rest",
		Description: "Each cell is a support level (full, partial, none, unknown) and the relay's default action\n" +
			"(pass, strip, degrade, refuse), with a note and the evidence. A provider's features: setting\n" +
			"overrides the action, e.g. features: {tool_choice_any: degrade}.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "provider", Aliases: []string{"p"}, Usage: "only provider `TYPE` (" + fmt.Sprint(config.Types) + ")"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "text", Usage: "output `FORMAT`: text, markdown or json"},
		},
		Action: func(c *cli.Context) error {
			typ := c.String("provider")
			if typ != "" && !slices.Contains(config.Types, typ) {
				return &exitError{code: 2, err: fmt.Errorf("unknown provider type %q; want one of %v", typ, config.Types)}
			}
			switch f := c.String("format"); f {
			case "text", "markdown", "json":
				if err := features.Render(stdout, f, typ); err != nil {
					return &exitError{code: 1, err: err}
				}
				return nil
			default:
				return &exitError{code: 2, err: fmt.Errorf("unknown format %q; want text, markdown or json", f)}
			}
		},
	}
}
