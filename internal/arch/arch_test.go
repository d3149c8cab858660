package arch

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// readme is testdata/README.md: tables outside the Architecture section,
// a stage table, a public and an other package table.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParse(t *testing.T) {
	readme := readme(t)
	tests := []struct {
		name    string
		text    string
		want    *Layout
		wantErr string
	}{
		{name: "stages and both tables", text: readme, want: &Layout{
			Stages: []string{"base", "probe", "reports"},
			Stage:  map[string]string{"audit": "base", "reports": "reports", "internal/probe": "probe", "cmd/x": "reports"},
			Public: map[string]bool{"audit": true, "reports": true, "internal/probe": false, "cmd/x": false},
			Line:   map[string]int{"audit": 21, "reports": 22, "internal/probe": 26, "cmd/x": 27},
		}},
		{name: "unknown stage", text: strings.Replace(readme, "| `internal/probe` | `probe` |", "| `internal/probe` | `prob` |", 1),
			wantErr: `README.md:26: column "stage": unknown stage "prob"`},
		{name: "listed twice", text: strings.Replace(readme, "`cmd/x`", "`audit`", 1),
			wantErr: `README.md:27: column "package": audit is listed on line 21 too`},
		{name: "two folders in a row", text: strings.Replace(readme, "| `cmd/x` |", "| `cmd/x`, `cmd/y` |", 1),
			wantErr: `README.md:27: column "package": want one ` + "`folder`"},
		{name: "stage without a name", text: strings.Replace(readme, "| `probe` | observations |", "| probe | observations |", 1),
			wantErr: `README.md:16: column "stage": want a ` + "`stage`"},
		{name: "no section", text: strings.Replace(readme, "## Architecture", "## Design", 1),
			wantErr: `README.md: section "## Architecture" has no stage table`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.text), "README.md")
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Stages, tt.want.Stages) || !equal(got.Stage, tt.want.Stage) || !equal(got.Public, tt.want.Public) || !equal(got.Line, tt.want.Line) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func equal[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestCheck(t *testing.T) {
	l, err := Parse(strings.NewReader(readme(t)), "README.md")
	if err != nil {
		t.Fatal(err)
	}
	good := []Package{
		{Folder: "audit"},
		{Folder: "reports", Imports: []string{"audit"}},
		{Folder: "internal/probe", Imports: []string{"audit"}},
		{Folder: "cmd/x", Main: true, Imports: []string{"audit", "internal/probe", "reports"}},
	}
	with := func(f func(ps []Package) []Package) []Package {
		ps := make([]Package, len(good))
		copy(ps, good)
		return f(ps)
	}
	tests := []struct {
		name string
		pkgs []Package
		want []string
	}{
		{"as drawn", good, nil},
		{"a later stage imported", with(func(ps []Package) []Package {
			ps[2].Imports = []string{"audit", "reports"}
			return ps
		}), []string{"internal/probe (stage probe) imports reports of the later stage reports"}},
		{"public imports internal", with(func(ps []Package) []Package {
			ps[1].Imports = []string{"internal/probe"}
			return ps
		}), []string{"public reports imports internal/probe"}},
		{"a package the README lacks", append(slices.Clone(good), Package{Folder: "internal/new"}),
			[]string{"internal/new is not in the README's package tables"}},
		{"a folder that is no package", good[:3], []string{"cmd/x (README line 27) is not a package of the module"}},
		{"a command listed as public", with(func(ps []Package) []Package {
			ps[1].Main = true
			return ps
		}), []string{"reports (README line 22) is in the wrong table: public is false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Check(l, tt.pkgs); !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// debt lists the departures the project knows of, each with the reason it
// stays for now; TestModule fails when one of them is gone, so the list shrinks.
var debt = map[string]string{}

// TestModule checks this module against the README: `go list -deps -json ./...`
// gives every package and its imports, the README's Architecture section the stages.
func TestModule(t *testing.T) {
	root := filepath.Join("..", "..")
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := Parse(f, "README.md")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := modulePackages(t, root)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	known := maps.Clone(debt)
	for _, v := range Check(l, pkgs) {
		if _, ok := known[v]; ok {
			delete(known, v)
			continue
		}
		t.Error(v)
	}
	for v := range known {
		t.Errorf("%q is listed as known debt but is gone: remove it from debt", v)
	}
}

// modulePackages runs `go list -deps -json ./...` in root and returns the main module's packages.
func modulePackages(t *testing.T, root string) []Package {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "list", "-deps", "-json", "./...")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	type listed struct {
		ImportPath, Name string
		Imports          []string
		Module           *struct {
			Path string
			Main bool
		}
	}
	var ps []listed
	dec := json.NewDecoder(io.LimitReader(stdout, 256<<20))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Module != nil && p.Module.Main {
			ps = append(ps, p)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	var out []Package
	for _, p := range ps {
		mod := p.Module.Path
		folder := func(path string) (string, bool) {
			if path == mod {
				return ".", true
			}
			f, ok := strings.CutPrefix(path, mod+"/")
			return f, ok
		}
		f, _ := folder(p.ImportPath)
		pkg := Package{Folder: f, Main: p.Name == "main"}
		for _, imp := range p.Imports {
			if g, ok := folder(imp); ok {
				pkg.Imports = append(pkg.Imports, g)
			}
		}
		out = append(out, pkg)
	}
	return out
}
