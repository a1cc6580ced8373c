package body

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// owned are the imports only this package may have outside tests: it is the one owner of
// request bodies and of the edits made to them, and of the unsafe views of their bytes.
// Response streams (relay/sse, the Bedrock event-stream converter) edit and view their events
// through its helpers too (Set, SetRaw, String, Bytes), so the list of exceptions is empty.
var owned = []string{"github.com/tidwall/sjson", "unsafe"}

// TestOnlyBodyImportsSjsonOrUnsafe walks every non-test Go file of the module with go/parser
// and fails for each import of sjson or unsafe outside relay/body.
func TestOnlyBodyImportsSjsonOrUnsafe(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	self := filepath.Join(root, "relay", "body")
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch name := d.Name(); {
			case path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "vendor"):
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		if filepath.Dir(path) == self {
			return nil
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, o := range owned {
				if p == o {
					rel, _ := filepath.Rel(root, path)
					t.Errorf("%s imports %s: only relay/body may (use its Edits, Set, SetRaw, Delete, String, Bytes)", rel, p)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("only %d Go files found under %s: the walk missed the module", files, root)
	}
}
