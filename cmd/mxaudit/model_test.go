package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

// TestModelScripts runs testdata/model (issue 11): the demo report states
// each problem once, its cover counts agree, and one set of thresholds
// grades the verdicts, the checks, the roots and the reports. The reports
// are read back with pdftotext and openpyxl: without them the test skips,
// and under CI=true it fails.
func TestModelScripts(t *testing.T) {
	_, pdfErr := exec.LookPath("pdftotext")
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import openpyxl").Run() == nil {
			python = p
			break
		}
	}
	if pdfErr != nil || python == "" {
		msg := "pdftotext or python3 with openpyxl is missing (Debian poppler-utils, python3-openpyxl; .ci/run installs them)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/model",
		Setup: func(env *testscript.Env) error {
			_, err := startFleet(env, fleet.Options{NoDNS: true})
			return err
		},
		Cmds: scriptCmds(map[string]scriptCmd{
			"finding":        cmdFinding,
			"pdftext":        cmdPDFText,
			"xlsxsheet":      cmdXLSXSheet,
			"onceperproblem": cmdOncePerProblem,
			"covercounts":    cmdCoverCounts,
			"agree":          cmdAgree,
		}),
	})
}

// python is a python3 that imports openpyxl.
var python string

// pdftext IN.pdf OUT writes the layout text of a PDF (pdftotext -layout).
func cmdPDFText(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: pdftext IN.pdf OUT")
	}
	out, err := exec.Command("pdftotext", "-layout", ts.MkAbs(args[0]), "-").Output()
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), out, 0o644))
}

// xlsxsheet IN.xlsx SHEET OUT writes one sheet of a workbook as read back
// by openpyxl: a line per row, cells separated by tabs, without empty cells at the end.
func cmdXLSXSheet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: xlsxsheet IN.xlsx SHEET OUT")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), []byte(xlsxSheet(ts, ts.MkAbs(args[0]), args[1])), 0o644))
}

func xlsxSheet(ts *testscript.TestScript, path, sheet string) string {
	const py = `import sys, openpyxl
ws = openpyxl.load_workbook(sys.argv[1])[sys.argv[2]]
for row in ws.iter_rows(values_only=True):
    print("\t".join("" if v is None else str(v).replace("\t", " ").replace("\n", " ") for v in row).rstrip("\t"))`
	if python == "" {
		ts.Fatalf("xlsxsheet: no python3 with openpyxl (Debian python3-openpyxl)")
	}
	out, err := exec.Command(python, "-c", py, path, sheet).Output()
	ts.Check(err)
	return string(out)
}

// restates names, for each check that did or could restate a verdict, the
// verdicts whose problem its findings would state a second time (issue 11:
// Expired and expiry, WeakKey and weak-key, IssuerChanged and pin, a
// PartialChain and the aia finding, an expired root and the private-root
// finding; verdict and enforced restated them all).
var restates = map[string][]audit.Verdict{
	"expiry":         {audit.Expired},
	"private-root":   {audit.Expired},
	"aia":            {audit.PartialChain},
	"weak-key":       {audit.WeakKey},
	"weak-signature": {audit.WeakSignature},
	"pin":            {audit.IssuerChanged},
	"verdict":        audit.Order,
	"enforced":       audit.Order,
}

// statement is one problem a report states about a partner.
type statement struct {
	sev    audit.Severity
	issue  string // a verdict, or a check's name
	remedy string // "" where the report shows none beside it
}

// oncePerProblem checks the statements of each partner: no retired check,
// no issue twice with the same remedy (a check may state different
// problems of one partner, each with its own remedy: the mx check's alias
// and IP literal of two MX hosts), and no check finding restating a
// verdict of the same partner as a problem of its own (error or above), at
// the verdict's severity, or with the verdict's remedy. A note below that
// (the aia warning beside a PartialChain) adds to the verdict.
func oncePerProblem(byPartner map[string][]statement) []string {
	var bad []string
	for p, ss := range byPartner {
		seen := map[string]bool{}
		for _, s := range ss {
			if _, retired := audit.RetiredChecks[s.issue]; retired {
				bad = append(bad, fmt.Sprintf("%s: finding of the retired check %s", p, s.issue))
			}
			if seen[s.issue+"\x00"+s.remedy] {
				bad = append(bad, fmt.Sprintf("%s: under %s twice", p, s.issue))
			}
			seen[s.issue+"\x00"+s.remedy] = true
			for _, v := range ss {
				if !audit.Verdict(v.issue).Known() || !slices.Contains(restates[s.issue], audit.Verdict(v.issue)) {
					continue
				}
				if s.sev.Level() >= audit.Error.Level() || s.sev.Level() >= v.sev.Level() || (s.remedy != "" && s.remedy == v.remedy) {
					bad = append(bad, fmt.Sprintf("%s: %s (%s) states the problem of its verdict %s (%s) again", p, s.issue, s.sev, v.issue, v.sev))
				}
			}
		}
	}
	slices.Sort(bad)
	return bad
}

// onceperproblem RESULTS REPORT asserts that the report (report.pdf: its
// critical and error findings; report.xlsx: its Findings sheet) puts no
// partner of RESULTS under two groups for the same problem.
func cmdOncePerProblem(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: onceperproblem results.json report.pdf|report.xlsx")
	}
	res, err := audit.ReadResults(ts.MkAbs(args[0]))
	ts.Check(err)
	var byPartner map[string][]statement
	switch filepath.Ext(args[1]) {
	case ".pdf":
		out, err := exec.Command("pdftotext", "-layout", ts.MkAbs(args[1]), "-").Output()
		ts.Check(err)
		byPartner = pdfGroups(ts, string(out), res)
	case ".xlsx":
		byPartner = xlsxFindings(ts, xlsxSheet(ts, ts.MkAbs(args[1]), "Findings"))
	default:
		ts.Fatalf("onceperproblem: %s is neither .pdf nor .xlsx", args[1])
	}
	n := 0
	for _, ss := range byPartner {
		n += len(ss)
	}
	if n == 0 {
		ts.Fatalf("%s: no findings read", args[1])
	}
	if bad := oncePerProblem(byPartner); len(bad) > 0 {
		ts.Fatalf("%s states problems twice:\n%s", args[1], strings.Join(bad, "\n"))
	}
	ts.Logf("%s: %d statements about %d partners, each problem once", args[1], n, len(byPartner))
}

var groupHeading = regexp.MustCompile(`^\s*(CRITICAL|ERROR)\s+(\S+) — \d+ partners?\s*$`)

// pdfGroups reads the "Critical and error findings" section of a report's
// text: each group's severity and issue, and the partners listed under it
// (a table row starts with the partner's name).
func pdfGroups(ts *testscript.TestScript, text string, res *audit.Results) map[string][]statement {
	start := strings.Index(text, "Critical and error findings")
	end := strings.Index(text, "Private roots lifecycle")
	if start < 0 || end < start {
		ts.Fatalf("the PDF has no critical and error findings section")
	}
	names := make([]string, 0, len(res.Partners))
	for _, r := range res.Partners {
		names = append(names, r.Name)
	}
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) }) // longest first: "Expired Root AG" before "Expired"
	out := map[string][]statement{}
	var cur *statement
	for _, line := range strings.Split(text[start:end], "\n") {
		if m := groupHeading.FindStringSubmatch(line); m != nil {
			cur = &statement{sev: audit.Severity(strings.ToLower(m[1])), issue: m[2]}
			continue
		}
		if cur == nil {
			continue
		}
		trimmed := strings.TrimLeft(line, " ")
		for _, n := range names {
			if rest, ok := strings.CutPrefix(trimmed, n); ok && (rest == "" || strings.HasPrefix(rest, "  ")) {
				out[n] = append(out[n], *cur)
				break
			}
		}
	}
	return out
}

// xlsxFindings reads the Findings sheet: Partner, Domain, Host, Enforced,
// Severity, Source, Issue, Message, Remedy.
func xlsxFindings(ts *testscript.TestScript, sheet string) map[string][]statement {
	out := map[string][]statement{}
	for i, line := range strings.Split(strings.TrimRight(sheet, "\n"), "\n") {
		c := strings.Split(line, "\t")
		if len(c) < 7 {
			ts.Fatalf("Findings row %d has %d cells: %q", i+1, len(c), line)
		}
		for len(c) < 9 { // message and remedy may be empty
			c = append(c, "")
		}
		if i == 0 {
			if c[4] != "Severity" || c[6] != "Issue" || c[8] != "Remedy" {
				ts.Fatalf("Findings header %q", c)
			}
			continue
		}
		out[c[0]] = append(out[c[0]], statement{sev: audit.Severity(c[4]), issue: c[6], remedy: c[8]})
	}
	return out
}

var numbers = regexp.MustCompile(`\d+`)

// covercounts REPORT.pdf asserts that the executive summary's tiles and its
// charts count the same partners: the tiles by worst severity add up to
// the partners, the verdict chart too, and its "Valid" bar is the Valid
// tile; a "Valid with findings" bar is explained in the text above.
func cmdCoverCounts(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: covercounts report.pdf")
	}
	out, err := exec.Command("pdftotext", "-layout", "-f", "2", "-l", "2", ts.MkAbs(args[0]), "-").Output()
	ts.Check(err)
	lines := strings.Split(string(out), "\n")
	var tiles []int
	for i, l := range lines {
		if strings.Contains(l, "Partners") && strings.Contains(l, "Critical") && strings.Contains(l, "Roots to act on") {
			for j := i - 1; j >= 0 && tiles == nil; j-- {
				for _, s := range numbers.FindAllString(lines[j], -1) {
					n, _ := strconv.Atoi(s)
					tiles = append(tiles, n)
				}
			}
			break
		}
	}
	if len(tiles) != 6 {
		ts.Fatalf("tiles %v: want Partners, Critical, Error, Warning, Valid, Roots to act on", tiles)
	}
	chart := map[string]int{}
	total := 0
	bar := regexp.MustCompile(`^\s*(\S.*?)\s{2,}(\d+)\s*$`)
	verdicts := strings.Split(string(out), "Partners by verdict")
	if len(verdicts) != 2 {
		ts.Fatalf("no verdict chart on page 2")
	}
	for _, l := range strings.Split(strings.Split(verdicts[1], "Partners by worst severity")[0], "\n") {
		if m := bar.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[2])
			chart[m[1]] += n
			total += n
		}
	}
	if sum := tiles[1] + tiles[2] + tiles[3] + tiles[4]; sum != tiles[0] || total != tiles[0] {
		ts.Fatalf("%d partners: the severity tiles add up to %d, the verdict chart to %d", tiles[0], sum, total)
	}
	if chart["Valid"] != tiles[4] {
		ts.Fatalf("the Valid tile says %d, the verdict chart's Valid bar %d", tiles[4], chart["Valid"])
	}
	flat := strings.Join(strings.Fields(string(out)), " ")
	said := regexp.MustCompile(fmt.Sprintf(`Of these, %d (is|are) "%s"`, chart[audit.ValidWithFindings], audit.ValidWithFindings))
	if n := chart[audit.ValidWithFindings]; n > 0 && !said.MatchString(flat) {
		ts.Fatalf("the chart has %d %q partners, but the summary does not say why", n, audit.ValidWithFindings)
	}
	ts.Logf("tiles %v, verdict chart %v", tiles, chart)
}

// agree DIR asserts that everything a scan wrote into DIR grades by the
// thresholds its results.json records: WeakKey exactly where a key is
// below its minimum, each private root's status by the lifecycle rule with
// the private-root finding exactly for the expiring and expired ones, and
// the same statuses, WeakKey rows and thresholds in private-roots.csv,
// findings.csv, the workbook and the PDF.
func cmdAgree(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: agree DIR")
	}
	dir := ts.MkAbs(args[0])
	res, err := audit.ReadResults(filepath.Join(dir, "results.json"))
	ts.Check(err)
	if res.Thresholds == nil {
		ts.Fatalf("%s/results.json records no thresholds", args[0])
	}
	th := *res.Thresholds
	weak := map[string]bool{}
	for _, r := range res.Partners {
		below := slices.ContainsFunc(r.Chain, func(c audit.Cert) bool { return th.WeakKey(c.KeyType, c.KeyBits) })
		if below != r.Has(audit.WeakKey) {
			ts.Fatalf("%s: a key below the minimum %v, WeakKey %v (verdicts %v)", r.Name, below, r.Has(audit.WeakKey), r.Verdicts)
		}
		weak[r.Name] = r.Has(audit.WeakKey)
	}
	status := map[string]string{}
	for _, pr := range res.PrivateRoots {
		want := th.RootStatus(audit.DaysLeft(pr.NotAfter, res.Started), len(pr.UsedBy) > 0)
		dated := slices.ContainsFunc(pr.Findings, func(f audit.Finding) bool {
			return f.Check == "private-root" && (strings.Contains(f.Message, " expires on ") || strings.Contains(f.Message, " expired "))
		})
		if pr.Status != want || dated != audit.Attention(want) {
			ts.Fatalf("private root %s: status %s, the rule says %s; a finding about its end: %v", pr.File, pr.Status, want, dated)
		}
		status[pr.File] = pr.Status
	}
	csvRoots := ts.ReadFile(filepath.Join(args[0], "private-roots.csv"))
	xlRoots := xlsxSheet(ts, filepath.Join(dir, "report.xlsx"), "Private Roots")
	pdf, err := exec.Command("pdftotext", "-layout", filepath.Join(dir, "report.pdf"), "-").Output()
	ts.Check(err)
	for file, st := range status {
		q := regexp.QuoteMeta(file)
		for what, re := range map[string]string{
			"private-roots.csv": `(?m)^` + q + `,.*,` + st + `,`,
			"workbook":          `(?m)^` + q + `\t.*\t` + st + `\t`,
			"PDF":               `(?m)^\s*` + q + `\s.*\d{4}-\d\d-\d\d\s+-?\d+\s+` + st + `\b`,
		} {
			text := map[string]string{"private-roots.csv": csvRoots, "workbook": xlRoots, "PDF": string(pdf)}[what]
			if !regexp.MustCompile(re).MatchString(text) {
				ts.Fatalf("%s does not give private root %s the status %s", what, file, st)
			}
		}
	}
	for _, line := range strings.Split(ts.ReadFile(filepath.Join(args[0], "findings.csv")), "\n") {
		if strings.Contains(line, ",verdict,WeakKey,") && !weak[strings.SplitN(line, ",", 2)[0]] {
			ts.Fatalf("findings.csv has WeakKey for a partner without it: %s", line)
		}
	}
	facts := xlsxSheet(ts, filepath.Join(dir, "report.xlsx"), "Summary")
	for _, k := range audit.ThresholdKeys {
		n, _ := th.Get(k)
		if !strings.Contains(facts, fmt.Sprintf("Threshold %s\t%d\n", k, n)) {
			ts.Fatalf("the workbook's Summary does not say %s = %d", k, n)
		}
	}
	flat := strings.Join(strings.Fields(string(pdf)), " ")
	if want := fmt.Sprintf("Thresholds: RSA keys of at least %d bits and EC keys of at least %d bits", th.MinRSABits, th.MinECBits); !strings.Contains(flat, want) {
		ts.Fatalf("the PDF's summary does not say %q", want)
	}
}
