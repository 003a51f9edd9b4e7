package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// module is this repository's module path.
const module = "github.com/communityidp/idp"

// CONTRIBUTING.md's package map is the code's: every package of the
// repository is in it, and each imports (outside its tests) only
// packages of a lower layer.
func TestPackageMap(t *testing.T) {
	doc, err := os.ReadFile("../../CONTRIBUTING.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| (\\d+) \\| `([^`]+)` \\|")
	layer := map[string]int{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		n, _ := strconv.Atoi(m[1])
		layer[m[2]] = n
	}
	if len(layer) < 30 {
		t.Fatalf("only %d packages in the map: is its table still | layer | `package` | job |?", len(layer))
	}

	imports := map[string]map[string]bool{} // package dir -> repository packages it imports
	fset := token.NewFileSet()
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".tools", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel("../..", filepath.Dir(path))
		dir = filepath.ToSlash(dir)
		if dir == "." {
			return nil
		}
		if imports[dir] == nil {
			imports[dir] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rel, ok := strings.CutPrefix(p, module+"/"); ok {
				imports[dir][rel] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// e2e holds only tests: it is in the map, with nothing to check.
	for pkg := range layer {
		if _, ok := imports[pkg]; !ok && pkg != "e2e" {
			t.Errorf("CONTRIBUTING.md maps %s, which is not a package of the repository", pkg)
		}
	}
	for pkg, deps := range imports {
		l, ok := layer[pkg]
		if !ok {
			t.Errorf("%s is missing from CONTRIBUTING.md's package map", pkg)
			continue
		}
		for dep := range deps {
			if dl, ok := layer[dep]; ok && dl >= l {
				t.Errorf("%s (layer %d) imports %s (layer %d): only lower layers may be imported", pkg, l, dep, dl)
			}
		}
	}
}
