package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTOMLLinesFindsEveryKey(t *testing.T) {
	src := dedent(`
	# [not.a.table] in a comment
	title = """
	[fake]
	key = 1
	"""
	lit = '''
	[[also.fake]]
	'''
	server.listen = ":1"   # dotted key
	[[providers]]
	name = "a" # [comment]
	"quoted.key" = 'x'
	models = [
	  "m1", # first
	  # a comment line
	  "m2",
	]
	keys = [ { key = "k", rpm_limit = 1 },
	         { key = "l" } ]
	[providers.model_mapping]
	"claude-3.5" = "y"
	[[providers]]
	name = "b"
	[[providers.keys]]
	key = "c"
	[[providers.keys]]
	key = "d"
	[routing.model_based]
	"claude-" = ["a",
	  "b"]
	`)
	want := map[string]int{
		"title":                                    2,
		"lit":                                      6,
		"server":                                   9,
		"server.listen":                            9,
		"providers":                                10,
		"providers[0]":                             10,
		"providers[0].name":                        11,
		`providers[0]["quoted.key"]`:               12,
		"providers[0].models":                      13,
		"providers[0].models[0]":                   14,
		"providers[0].models[1]":                   16,
		"providers[0].keys":                        18,
		"providers[0].keys[0]":                     18,
		"providers[0].keys[0].key":                 18,
		"providers[0].keys[0].rpm_limit":           18,
		"providers[0].keys[1]":                     19,
		"providers[0].keys[1].key":                 19,
		"providers[0].model_mapping":               20,
		`providers[0].model_mapping["claude-3.5"]`: 21,
		"providers[1]":                             22,
		"providers[1].name":                        23,
		"providers[1].keys":                        24,
		"providers[1].keys[0]":                     24,
		"providers[1].keys[0].key":                 25,
		"providers[1].keys[1]":                     26,
		"providers[1].keys[1].key":                 27,
		"routing.model_based":                      28,
		"routing.model_based.claude-":              29,
		"routing.model_based.claude-[0]":           29,
		"routing.model_based.claude-[1]":           30,
	}
	if diff := cmp.Diff(want, tomlLines([]byte(src))); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestTOMLLinesAcceptsWindowsLineEnds(t *testing.T) {
	got := tomlLines([]byte("[[providers]]\r\nname = \"a\"\r\n\r\n[[providers.keys]]\r\nkey = \"k\"\r\n"))
	want := map[string]int{"providers": 1, "providers[0]": 1, "providers[0].name": 2,
		"providers[0].keys": 4, "providers[0].keys[0]": 4, "providers[0].keys[0].key": 5}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
