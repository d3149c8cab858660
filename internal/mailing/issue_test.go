package mailing

import (
	"archive/zip"
	"bytes"
	"context"
	"html"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/mailing/mailtest"
	"github.com/mxaudit/mxaudit/reports"
	"github.com/mxaudit/mxaudit/templates"
)

// writeEML composes res, writes every message as a .eml file (a dry run)
// and reads each back, keyed by recipient address.
func writeEML(t *testing.T, res *audit.Results, opts Options) (*Plan, map[string]parsed) {
	t.Helper()
	opts.Sender, opts.Date = "audit@corp.example", started
	plan, err := Compose(res, opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := &Dir{Path: filepath.Join(t.TempDir(), "outbox")}
	for _, oc := range Deliver(context.Background(), dir, plan, DeliverOptions{}) {
		if oc.Status != Sent {
			t.Fatalf("%s: %s %v", oc.Message.Who(), oc.Status, oc.Err)
		}
	}
	out := map[string]parsed{}
	for i, p := range dir.Written {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[plan.Messages[i].To]; dup {
			t.Errorf("two messages to %s", plan.Messages[i].To)
		}
		out[plan.Messages[i].To] = parse(t, b)
	}
	return plan, out
}

// flat joins the words of s with single spaces, so that phrases wrapped by pdftotext or a template still match.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestIssueMails is the issue's run, mailed: each partner's .eml says the
// right thing in its own words, and its PDF (read back with pdftotext) too.
func TestIssueMails(t *testing.T) {
	res := issueFixture()
	plan, eml := writeEML(t, res, Options{Owner: "owner@corp.example"})
	tests := []struct {
		to        string
		situation Situation
		subject   []string // in the subject
		body      []string // in the body
		notBody   []string // not in subject or body (besides the admin wording, never)
		pdf       []string // in the PDF's text
		notPDF    []string
	}{
		{"pki@tailspintoys.example", RootSuccessor,
			[]string{"the root CA we imported from you expires on 2026-04-30", "please send us its successor"},
			[]string{"CN=Tailspin Root CA, O=Tailspin Toys: expires on 2026-04-30 (45 days left). Please send us its successor before then.",
				"found nothing wrong with mail.tailspintoys.example (tailspintoys.example)", "stops when we can no longer verify"},
			[]string{"TLS problem", "private-root", "Valid"},
			[]string{"Tailspin Toys", "please send us its successor before then", "Result: Valid (info)"},
			[]string{"private-root", "(warning)"}},
		{"it@firstup.example", Expiring,
			[]string{"a certificate of your mail server mx.firstup.example expires on 2026-03-26"},
			[]string{"CN=mx.firstup.example: expires on 2026-03-26 (10 days left)", "Please renew it in time"},
			[]string{"TLS problem", "Valid", "we require TLS"},
			[]string{"Firstup", "Please renew this certificate before it expires"}, nil},
		{"tls@contoso.example", Failing,
			[]string{"TLS problem with your mail server mx.contoso.example (PartialChain)"},
			[]string{"* PartialChain: the server sends only its own certificate; its issuer CN=Contoso Issuing CA is missing",
				"What to do: " + audit.PartialChain.CasePartnerRemedy(audit.CaseMissingIntermediate, ""), "mail from us to you is held until it is fixed"},
			[]string{"aia", "enforced", "Windows"},
			[]string{"PartialChain", audit.PartialChain.CasePartnerRemedy(audit.CaseMissingIntermediate, "")},
			[]string{"Windows still builds", "aia"}},
		{"ops@northwind.example", AllGood, []string{"no findings"}, []string{"nothing needs to be done"}, []string{"problem", "expires"}, []string{"Northwind"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.to, func(t *testing.T) {
			m := plan.Messages[slices.IndexFunc(plan.Messages, func(m *Message) bool { return m.To == tt.to })]
			p, ok := eml[tt.to]
			if !ok {
				t.Fatalf("no message to %s", tt.to)
			}
			if m.Situation != tt.situation {
				t.Errorf("situation %s, want %s", m.Situation, tt.situation)
			}
			body := flat(p.Body)
			for _, s := range tt.subject {
				if !strings.Contains(p.Subject, s) {
					t.Errorf("subject %q lacks %q", p.Subject, s)
				}
			}
			for _, s := range tt.body {
				if !strings.Contains(body, flat(s)) {
					t.Errorf("body lacks %q:\n%s", s, p.Body)
				}
			}
			for _, s := range append(slices.Clone(tt.notBody), adminWords...) {
				if strings.Contains(p.Subject+"\n"+body, s) {
					t.Errorf("%q in subject %q or body:\n%s", s, p.Subject, p.Body)
				}
			}
			if len(p.Attachments) != 1 {
				t.Fatalf("%d attachments", len(p.Attachments))
			}
			text := pdfText(t, p.Attachments[0].Data)
			checkOnlyPartner(t, res, m.Partner, text)
			for _, s := range tt.pdf {
				if !strings.Contains(flat(text), flat(s)) {
					t.Errorf("PDF lacks %q:\n%s", s, text)
				}
			}
			for _, s := range append(slices.Clone(tt.notPDF), adminWords...) {
				if strings.Contains(flat(text), s) {
					t.Errorf("PDF has %q:\n%s", s, text)
				}
			}
		})
	}

	t.Run("owner", func(t *testing.T) {
		p := eml["owner@corp.example"]
		if want := "2 of 5 partners with a TLS problem"; !strings.Contains(p.Subject, want) {
			t.Errorf("owner subject %q, want %q", p.Subject, want)
		}
		for _, s := range []string{
			"5 partners (6 mail servers): 2 with a TLS problem, 1 with a certificate expiring within 30 days, 1 asked for the successor of the root CA we imported from them, 1 without findings.",
			"* Tailspin Toys (root-successor): pki@tailspintoys.example", "* Firstup (expiring): it@firstup.example",
			"* Fabrikam (failing): postmaster@fabrikam.example, security@fabrikam.example\n",
		} {
			if !strings.Contains(p.Body, s) {
				t.Errorf("owner body lacks %q:\n%s", s, p.Body)
			}
		}
	})

	// The same rule counts the imported root as expiring once it is within --expiring-days.
	_, eml = writeEML(t, res, Options{Owner: "owner@corp.example", ExpiringDays: 60, Partners: []string{"Northwind"}})
	if p := eml["owner@corp.example"]; !strings.Contains(p.Body, "2 with a certificate expiring within 60 days") {
		t.Errorf("owner body with --expiring-days 60:\n%s", p.Body)
	}
}

// TestDuplicatePartner: a partner listed with two MX hosts gets one message
// per address covering both rows, one PDF with both, and a re-run through a
// real SMTP server sends nothing twice and drops nothing.
func TestDuplicatePartner(t *testing.T) {
	res := issueFixture()
	plan, eml := writeEML(t, res, Options{Partners: []string{"Fabrikam"}})
	var who []string
	for _, m := range plan.Messages {
		who = append(who, m.Who())
		if !slices.Equal(m.Hosts, []string{"mx1.fabrikam.example:25", "mx2.fabrikam.example:25"}) {
			t.Errorf("%s covers %v", m.Who(), m.Hosts)
		}
	}
	if want := []string{"Fabrikam <postmaster@fabrikam.example>", "Fabrikam <security@fabrikam.example>"}; !slices.Equal(who, want) {
		t.Fatalf("messages %v, want %v", who, want)
	}
	for to, p := range eml {
		if want := "TLS problem with your mail server mx2.fabrikam.example (NameMismatch)"; !strings.Contains(p.Subject, want) {
			t.Errorf("%s: subject %q, want %q", to, p.Subject, want)
		}
		if !strings.Contains(flat(p.Body), "* NameMismatch: the certificate names mail.fabrikam-old.example, not mx2.fabrikam.example") ||
			!strings.Contains(p.Body, "We audited 2 mail servers of yours:\n* mx1.fabrikam.example (port 25): no findings\n* mx2.fabrikam.example (port 25): NameMismatch\n") {
			t.Errorf("%s: body\n%s", to, p.Body)
		}
		if len(p.Attachments) != 1 || p.Attachments[0].Name != "Fabrikam.pdf" {
			t.Fatalf("%s: attachments %v", to, p.Attachments)
		}
		text := flat(pdfText(t, p.Attachments[0].Data))
		for _, s := range []string{"mx1.fabrikam.example:25", "mx2.fabrikam.example:25", "NameMismatch", "the worst of 2 mail servers", "mail.fabrikam-old.example"} {
			if !strings.Contains(text, s) {
				t.Errorf("%s: PDF lacks %q:\n%s", to, s, text)
			}
		}
	}

	srv := mailtest.Start(t, mailtest.Options{Users: map[string]string{user: password}})
	log, err := OpenLog(filepath.Join(t.TempDir(), LogFile))
	if err != nil {
		t.Fatal(err)
	}
	tr := newSMTP(t, srv, audit.StartTLS, AuthPlain, password, srv.Pool)
	for run, want := range []Status{Sent, AlreadySent} {
		for _, oc := range Deliver(context.Background(), tr, plan, fastRetry(log)) {
			if oc.Status != want {
				t.Errorf("run %d: %s %s %v, want %s", run+1, oc.Message.Who(), oc.Status, oc.Err, want)
			}
		}
	}
	for _, to := range []string{"postmaster@fabrikam.example", "security@fabrikam.example"} {
		if n := len(srv.For(to)); n != 1 {
			t.Errorf("%s received %d messages, want 1", to, n)
		}
	}
	if len(log.Entries) != 2 || !slices.Equal(log.Entries[0].Hosts, []string{"mx1.fabrikam.example:25", "mx2.fabrikam.example:25"}) {
		t.Errorf("log %+v", log.Entries)
	}
}

func TestSendLogCovers(t *testing.T) {
	m := &Message{Partner: "Fabrikam", To: "postmaster@fabrikam.example", Hosts: []string{"mx1.fabrikam.example:25", "mx2.fabrikam.example:25"}}
	tests := []struct {
		name  string
		entry LogEntry
		found bool
	}{
		{"same rows", LogEntry{Run: "r", Partner: "Fabrikam", To: "Postmaster@Fabrikam.example", Hosts: []string{"mx2.fabrikam.example:25", "mx1.fabrikam.example:25"}}, true},
		{"an entry of an older version, without rows", LogEntry{Run: "r", Partner: "Fabrikam", To: "postmaster@fabrikam.example"}, true},
		{"a message that covered one row only", LogEntry{Run: "r", Partner: "Fabrikam", To: "postmaster@fabrikam.example", Hosts: []string{"mx1.fabrikam.example:25"}}, false},
		{"another run", LogEntry{Run: "s", Partner: "Fabrikam", To: "postmaster@fabrikam.example", Hosts: m.Hosts}, false},
		{"another address", LogEntry{Run: "r", Partner: "Fabrikam", To: "security@fabrikam.example", Hosts: m.Hosts}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &SendLog{Entries: []LogEntry{tt.entry}}
			if _, found := l.Find("r", m); found != tt.found {
				t.Errorf("found %v, want %v", found, tt.found)
			}
		})
	}
}

// parenValid matches a subject that names a verdict of Valid, the issue's "(Valid)".
var parenValid = regexp.MustCompile(`\(\s*(Valid|)\s*\)`)

// TestNoValidSubject mails a partner for every verdict, enforced or not,
// with and without a finding about our side, and partners in every
// situation: no subject says "(Valid)" or "()", and a failing message
// always names a problem in its body.
func TestNoValidSubject(t *testing.T) {
	res := &audit.Results{Schema: audit.SchemaVersion, Started: started, Finished: started, PrivateRoots: []audit.PrivateRoot{tailspinRoot}}
	far := started.AddDate(1, 0, 0)
	for _, v := range audit.Order {
		for _, enforced := range []bool{false, true} {
			for _, ours := range []bool{false, true} {
				name := string(v)
				if enforced {
					name += " enforced"
				}
				if ours {
					name += " ours"
				}
				r := result(name, strings.ToLower(strings.ReplaceAll(name, " ", "-"))+".example", enforced, "a@"+strings.ToLower(strings.ReplaceAll(name, " ", "-"))+".example",
					[]audit.Verdict{v}, cert("CN=mx.partner.example", "CN=CA", far))
				if ours {
					r.Findings = append(r.Findings, audit.Finding{Check: "CheckFailed", Severity: audit.Warning, Message: "check x failed"},
						audit.Finding{Check: "private-root", Severity: audit.Warning, Message: "private root expires"})
				}
				res.Partners = append(res.Partners, r)
			}
		}
	}
	res.Partners = append(res.Partners, tailspin(), firstup(), contoso())
	plan, err := Compose(res, Options{Sender: "audit@corp.example", Owner: "owner@corp.example", Date: started})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Situation]bool{}
	for _, m := range plan.Messages {
		seen[m.Situation] = true
		if parenValid.MatchString(m.Subject) || strings.Contains(m.Subject, "<no value>") {
			t.Errorf("%s (%s): subject %q", m.Who(), m.Situation, m.Subject)
		}
		if m.Situation != Failing || m.Owner {
			continue
		}
		var b strings.Builder
		if _, err := m.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		if p := parse(t, []byte(b.String())); !strings.Contains(p.Body, "\n* ") {
			t.Errorf("%s: failing message names no problem:\n%s", m.Who(), p.Body)
		}
	}
	for _, s := range Situations {
		if !seen[s] {
			t.Errorf("no message in situation %s: the test does not cover it", s)
		}
	}
	// A not-probed partner is not mailed at all, and no partner with only our side's findings is failing.
	for _, m := range plan.Messages {
		if strings.HasPrefix(m.Partner, "NotProbed") || strings.HasPrefix(m.Partner, "Valid") && m.Situation == Failing {
			t.Errorf("%s mailed as %s", m.Who(), m.Situation)
		}
	}
}

func TestOpenLogBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.json")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	defer func(c int64) { logCap = c }(logCap)
	logCap = 4096
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, append([]byte("["), bytes.Repeat([]byte(" "), 5000)...), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"run": 1}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path, want string }{
		{"a FIFO is refused, not waited on", fifo, "not a regular file"},
		{"a link to /dev/zero is refused, not read", zero, "not a regular file"},
		{"a log over the cap", big, "larger than 4096 bytes"},
		{"a log that is not the send log's JSON names its file", bad, "bad.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := OpenLog(tt.path); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error %v, want one saying %q", err, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("OpenLog hangs")
			}
		})
	}
	if l, err := OpenLog(filepath.Join(dir, "missing.json")); err != nil || len(l.Entries) != 0 {
		t.Errorf("missing log: %v, %v", l, err)
	}
}

// xlsxText returns the text of every XML part of a workbook (cells, shared strings).
func xlsxText(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("workbook: %v", err)
	}
	var out strings.Builder
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".xml") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		x, err := io.ReadAll(io.LimitReader(rc, 16<<20))
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out.Write(x)
		out.WriteByte('\n')
	}
	return html.UnescapeString(out.String())
}

// TestPartnerWorkbook: --attach-xlsx gives a partner its rows told as its
// PDF tells them: the partner's remedies, nothing of our own side.
func TestPartnerWorkbook(t *testing.T) {
	res := issueFixture()
	_, eml := writeEML(t, res, Options{XLSX: true, Partners: []string{"Tailspin Toys", "Contoso Partial", "Fabrikam"}})
	contoso := ""
	for i := range res.Partners {
		if res.Partners[i].Name == "Contoso Partial" {
			contoso = res.Partners[i].VerdictPartnerRemedy(audit.PartialChain) // the case's words
		}
	}
	tests := []struct {
		to   string
		want []string
		not  []string
	}{
		{"pki@tailspintoys.example", []string{"mail.tailspintoys.example", "please send us its successor before then"}, []string{"private-root"}},
		{"tls@contoso.example", []string{"PartialChain", contoso}, []string{"Windows still builds", ">aia<"}},
		{"security@fabrikam.example", []string{"mx1.fabrikam.example", "mx2.fabrikam.example", "NameMismatch", audit.NameMismatch.PartnerRemedy()}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.to, func(t *testing.T) {
			p := eml[tt.to]
			if len(p.Attachments) != 2 || p.Attachments[1].Type != TypeXLSX {
				t.Fatalf("attachments %v", p.Attachments)
			}
			text := xlsxText(t, p.Attachments[1].Data)
			for _, s := range tt.want {
				if !strings.Contains(text, s) {
					t.Errorf("workbook lacks %q", s)
				}
			}
			for _, s := range append(slices.Clone(tt.not), adminWords...) {
				if strings.Contains(text, s) {
					t.Errorf("workbook has %q", s)
				}
			}
			for _, o := range otherNames(res, eml[tt.to].Header.Get("X-Mxaudit-Partner")) {
				if strings.Contains(text, o) {
					t.Errorf("workbook mentions %s", o)
				}
			}
		})
	}
}

func TestRootSuccessorOverride(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mail-root-successor.tmpl"),
		[]byte("Subject: Neues Root-Zertifikat, {{.Partner}}\n\n{{range .Roots}}{{.Subject}} läuft am {{.NotAfter}} ab.{{end}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, eml := writeEML(t, issueFixture(), Options{Partners: []string{"Tailspin Toys"}, Reports: reports.Options{Templates: tpl}})
	p := eml["pki@tailspintoys.example"]
	if p.Subject != "Neues Root-Zertifikat, Tailspin Toys" || strings.TrimSpace(p.Body) != "CN=Tailspin Root CA, O=Tailspin Toys läuft am 2026-04-30 ab." {
		t.Errorf("override: subject %q body %q", p.Subject, p.Body)
	}
}
