// Package arch holds the architecture the README draws, read from its
// "Architecture" section (the stages of the one-way data flow, in order, and
// the stage of every package), and checks a module's imports against it.
package arch

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// Section is the README heading whose tables Parse reads.
const Section = "## Architecture"

// Layout is the architecture the README draws.
type Layout struct {
	Stages []string          // in the order data flows
	Stage  map[string]string // package folder (relative to the module root) -> its stage
	Public map[string]bool   // folders listed in the public packages table
	Line   map[string]int    // folder -> README line of its row, for messages
}

// Table headers (the first cells) by which Parse tells the tables apart.
const (
	stageHeader   = "stage"          // | stage | what flows out |
	publicHeader  = "public package" // | public package | stage | holds |
	packageHeader = "package"        // | package | stage | holds |
)

var backticked = regexp.MustCompile("`([^`]+)`")

// Parse reads the Layout from the Architecture section of a README; name
// (the file name) and the line number start every error.
func Parse(r io.Reader, name string) (*Layout, error) {
	l := &Layout{Stage: map[string]string{}, Public: map[string]bool{}, Line: map[string]int{}}
	var rows []row
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	in, table, n := false, "", 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == Section
			table = ""
		case !in:
		case !strings.HasPrefix(line, "|"):
			table = ""
		case table == "":
			table = strings.ToLower(cells(line)[0])
		case strings.HasPrefix(line, "|-") || strings.HasPrefix(line, "| -"):
		default:
			rows = append(rows, row{table: table, line: n, cells: cells(line)})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for _, r := range rows {
		if err := l.add(r, name); err != nil {
			return nil, err
		}
	}
	if len(l.Stages) == 0 || len(l.Stage) == 0 {
		return nil, fmt.Errorf("%s: section %q has no stage table or no package table", name, Section)
	}
	return l, nil
}

// row is one table row of the Architecture section.
type row struct {
	table string // the header's first cell
	line  int
	cells []string
}

func (l *Layout) add(r row, name string) error {
	switch r.table {
	case stageHeader:
		m := backticked.FindStringSubmatch(r.cells[0])
		if m == nil {
			return fmt.Errorf("%s:%d: column %q: want a `stage` name", name, r.line, stageHeader)
		}
		l.Stages = append(l.Stages, m[1])
	case publicHeader, packageHeader:
		if len(r.cells) < 2 {
			return fmt.Errorf("%s:%d: column %q: missing", name, r.line, "stage")
		}
		st := strings.Trim(r.cells[1], "` ")
		if !slices.Contains(l.Stages, st) {
			return fmt.Errorf("%s:%d: column %q: unknown stage %q (the stage table comes first)", name, r.line, "stage", st)
		}
		folders := backticked.FindAllStringSubmatch(r.cells[0], -1)
		if len(folders) != 1 {
			return fmt.Errorf("%s:%d: column %q: want one `folder`", name, r.line, r.table)
		}
		f := folders[0][1]
		if prev, dup := l.Line[f]; dup {
			return fmt.Errorf("%s:%d: column %q: %s is listed on line %d too", name, r.line, r.table, f, prev)
		}
		l.Stage[f], l.Line[f] = st, r.line
		l.Public[f] = r.table == publicHeader
	}
	return nil
}

// cells splits a table line into its trimmed cells.
func cells(line string) []string {
	parts := strings.Split(strings.Trim(line, "|"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// Package is what Check knows of one package of the module.
type Package struct {
	Folder  string   // relative to the module root: "audit/dn", "internal/probe"
	Main    bool     // a command, which no other module imports
	Imports []string // folders of the module's packages it imports (its tests' imports are not)
}

// Public reports whether other modules may import p: neither a command nor under an internal folder.
func (p Package) Public() bool {
	return !p.Main && !slices.Contains(strings.Split(p.Folder, "/"), "internal")
}

// Check returns every way pkgs depart from l, one sentence each: a package
// the README does not list or a listed folder that is no package, a package
// in the wrong table, an import of a package of a later stage, and a public
// package importing an internal one.
func Check(l *Layout, pkgs []Package) []string {
	var out []string
	seen := map[string]bool{}
	rank := map[string]int{}
	for i, s := range l.Stages {
		rank[s] = i
	}
	for _, p := range pkgs {
		seen[p.Folder] = true
		st, ok := l.Stage[p.Folder]
		if !ok {
			out = append(out, fmt.Sprintf("%s is not in the README's package tables", p.Folder))
			continue
		}
		if l.Public[p.Folder] != p.Public() {
			out = append(out, fmt.Sprintf("%s (README line %d) is in the wrong table: public is %v", p.Folder, l.Line[p.Folder], p.Public()))
		}
		for _, imp := range p.Imports {
			ist, ok := l.Stage[imp]
			if ok && rank[ist] > rank[st] {
				out = append(out, fmt.Sprintf("%s (stage %s) imports %s of the later stage %s", p.Folder, st, imp, ist))
			}
			if p.Public() && !(Package{Folder: imp}).Public() {
				out = append(out, fmt.Sprintf("public %s imports %s", p.Folder, imp))
			}
		}
	}
	for f := range l.Stage {
		if !seen[f] {
			out = append(out, fmt.Sprintf("%s (README line %d) is not a package of the module", f, l.Line[f]))
		}
	}
	slices.Sort(out)
	return out
}
