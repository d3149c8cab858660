package mailing

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/reports"
	"github.com/mxaudit/mxaudit/templates"
)

func TestSplitContacts(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{"one", "a@x.example", []string{"a@x.example"}, false},
		{"comma and semicolon", "a@x.example, b@x.example;c@x.example", []string{"a@x.example", "b@x.example", "c@x.example"}, false},
		{"display names with separators", `"Doe, Jane" <jane@x.example>; "PKI; Team" <pki@x.example>`, []string{"jane@x.example", "pki@x.example"}, false},
		{"empty parts dropped", " ; a@x.example ;", []string{"a@x.example"}, false},
		{"not an address", "a@x.example; nobody", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as, err := SplitContacts(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			var got []string
			for _, a := range as {
				got = append(got, a.Address)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestComposePlan(t *testing.T) {
	res := fixture()
	type msg struct {
		who string
		sit Situation
	}
	tests := []struct {
		name  string
		opts  Options
		want  []msg
		skips []string
	}{
		{"everyone and the owner", Options{Owner: "owner@corp.example"}, []msg{
			{"Müller GmbH <it@mueller.example>", Failing}, {"Müller GmbH <pki@mueller.example>", Failing},
			{"Expiring Ltd <admin@expiring.example>", Expiring}, {"Quiet Corp <tls@quiet.example>", AllGood},
			{"Bounce Inc <nobody@bounce.example>", Failing}, {"Greylist SA <ops@greylist.example>", Failing},
			{"owner <owner@corp.example>", ""},
		}, []string{"Nocontact AG: no contact in the inventory"}},
		{"only failing", Options{OnlyFailing: true}, []msg{
			{"Müller GmbH <it@mueller.example>", Failing}, {"Müller GmbH <pki@mueller.example>", Failing},
			{"Bounce Inc <nobody@bounce.example>", Failing}, {"Greylist SA <ops@greylist.example>", Failing},
		}, []string{"Nocontact AG: no contact in the inventory"}},
		{"named partners", Options{Partners: []string{"Quiet Corp", "Nocontact AG"}}, []msg{
			{"Quiet Corp <tls@quiet.example>", AllGood},
		}, []string{"Nocontact AG: no contact in the inventory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Sender = "audit@corp.example"
			tt.opts.Date = started
			plan, err := Compose(res, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []msg
			for _, m := range plan.Messages {
				got = append(got, msg{m.Who(), m.Situation})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("messages\n got %v\nwant %v", got, tt.want)
			}
			var skips []string
			for _, s := range plan.Skipped {
				skips = append(skips, s.Partner+": "+s.Reason)
			}
			if !slices.Equal(skips, tt.skips) {
				t.Errorf("skipped %v, want %v", skips, tt.skips)
			}
			if plan.Run != "2026-03-16T07:30:00.123456789Z" {
				t.Errorf("run key %q", plan.Run)
			}
		})
	}
}

func TestComposeErrors(t *testing.T) {
	res := fixture()
	res.Partners[2].Contact = "tls@quiet.example; not-an-address"
	plan, err := Compose(res, Options{Sender: "audit@corp.example", Partners: []string{"Quiet Corp"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Messages) != 0 || len(plan.Skipped) != 1 || !plan.Skipped[0].Failed || !strings.Contains(plan.Skipped[0].Reason, `"not-an-address"`) {
		t.Errorf("bad contact: messages %d, skipped %+v", len(plan.Messages), plan.Skipped)
	}
	_, err = Compose(res, Options{Sender: "audit@corp.example", Partners: []string{"Quiet Corp", "Nobody Ltd"}})
	var upe *UnknownPartnerError
	if !errors.As(err, &upe) || !slices.Equal(upe.Names, []string{"Nobody Ltd"}) {
		t.Errorf("unknown partner: %v", err)
	}
	if _, err := Compose(res, Options{Sender: "not an address"}); err == nil {
		t.Error("bad sender accepted")
	}
	if _, err := Compose(res, Options{Sender: "a@corp.example", Owner: "x@y.example, nope"}); err == nil {
		t.Error("bad owner accepted")
	}
}

// TestTemplates renders each situation's message from the embedded
// templates and from an override directory, and rejects a template
// without a Subject line.
func TestTemplates(t *testing.T) {
	res := fixture()
	plan, err := Compose(res, Options{Sender: "audit@corp.example", Owner: "owner@corp.example", Date: started})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"ops@greylist.example":   {"TLS problem with your mail server mx.greylist.example (NameMismatch)"},
		"it@mueller.example":     {"TLS problem", "mx.mueller.example", "UntrustedRoot", "please use a certificate from a public certification authority, or send us your root CA certificate", "mail from us to you is held", "Müller-GmbH.pdf"},
		"admin@expiring.example": {"expires on 2026-03-26", "CN=mx.expiring.example: expires on 2026-03-26 (10 days left)"},
		"tls@quiet.example":      {"no findings", "nothing needs to be done"},
		"owner@corp.example":     {"4 of 6", "report.pdf", "report.xlsx", "* Nocontact AG: no contact in the inventory", "* Bounce Inc (failing): nobody@bounce.example", "* Müller GmbH (failing): it@mueller.example, pki@mueller.example\n"},
	}
	notWant := map[string][]string{
		"ops@greylist.example": {"held"},                                      // not enforced: mail still flows
		"it@mueller.example":   {"Import the partner's root CA", "enforced:"}, // our admins' remedy and internal checks stay internal
		"tls@quiet.example":    {"problem", "expires"},
	}
	for _, m := range plan.Messages {
		w, ok := want[m.To]
		if !ok {
			continue
		}
		var b bytes.Buffer
		if _, err := m.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		p := parse(t, b.Bytes())
		text := p.Subject + "\n" + p.Body
		for _, s := range w {
			if !strings.Contains(text, s) {
				t.Errorf("%s: %q missing from\n%s", m.To, s, text)
			}
		}
		for _, s := range notWant[m.To] {
			if strings.Contains(text, s) {
				t.Errorf("%s: %q in\n%s", m.To, s, text)
			}
		}
	}
	// The owner's counts: 4 failing (Müller, Nocontact, Bounce, Greylist) of 6.
	if s := plan.Messages[len(plan.Messages)-1].Subject; !strings.Contains(s, "4 of 6 partners") {
		t.Errorf("owner subject %q", s)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mail-ok.tmpl"), []byte("Subject: Alles gut, {{.Partner}}\n\nKeine Befunde für {{.Host}}.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	plan, err = Compose(res, Options{Sender: "audit@corp.example", Partners: []string{"Quiet Corp"}, Reports: reports.Options{Templates: tpl}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	plan.Messages[0].WriteTo(&b)
	if p := parse(t, b.Bytes()); p.Subject != "Alles gut, Quiet Corp" || strings.TrimSpace(p.Body) != "Keine Befunde für mx.quiet.example." {
		t.Errorf("override: subject %q body %q", p.Subject, p.Body)
	}

	if err := os.WriteFile(filepath.Join(dir, "mail-ok.tmpl"), []byte("Alles gut\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, _ = templates.Load(dir)
	_, err = Compose(res, Options{Sender: "audit@corp.example", Partners: []string{"Quiet Corp"}, Reports: reports.Options{Templates: tpl}})
	if err == nil || !strings.Contains(err.Error(), "mail-ok.tmpl") || !strings.Contains(err.Error(), "Subject") {
		t.Errorf("template without subject: %v", err)
	}
}

// TestAttachments checks each partner's message carries its own PDF
// (name, type, and text naming that partner only), with --xlsx its
// workbook too, and the owner's the full report and workbook.
func TestAttachments(t *testing.T) {
	res := fixture()
	plan, err := Compose(res, Options{Sender: "audit@corp.example", Owner: "owner@corp.example", XLSX: true, Date: started})
	if err != nil {
		t.Fatal(err)
	}
	names := reports.PartnerFileNames(res)
	for _, m := range plan.Messages {
		t.Run(m.Who(), func(t *testing.T) {
			var b bytes.Buffer
			if _, err := m.WriteTo(&b); err != nil {
				t.Fatal(err)
			}
			p := parse(t, b.Bytes())
			if m.Owner {
				checkOwnerAttachments(t, res, p)
				return
			}
			i := slices.IndexFunc(res.Partners, func(r audit.Result) bool { return r.Name == m.Partner })
			if len(p.Attachments) != 2 {
				t.Fatalf("%d attachments, want PDF and workbook", len(p.Attachments))
			}
			pdf, xl := p.Attachments[0], p.Attachments[1]
			if pdf.Name != names[i] || pdf.Type != TypePDF {
				t.Errorf("PDF attachment %q %s, want %q %s", pdf.Name, pdf.Type, names[i], TypePDF)
			}
			if xl.Name != strings.TrimSuffix(names[i], ".pdf")+".xlsx" || xl.Type != TypeXLSX || !bytes.HasPrefix(xl.Data, []byte("PK")) {
				t.Errorf("workbook attachment %q %s %q...", xl.Name, xl.Type, xl.Data[:min(4, len(xl.Data))])
			}
			checkOnlyPartner(t, res, m.Partner, pdfText(t, pdf.Data))
		})
	}
}

func checkOnlyPartner(t *testing.T, res *audit.Results, partner, text string) {
	t.Helper()
	if !strings.Contains(text, partner) {
		t.Errorf("PDF does not name %s:\n%s", partner, text)
	}
	for _, o := range otherNames(res, partner) {
		if strings.Contains(text, o) {
			t.Errorf("PDF for %s mentions %s", partner, o)
		}
	}
}

func checkOwnerAttachments(t *testing.T, res *audit.Results, p parsed) {
	t.Helper()
	if len(p.Attachments) != 2 || p.Attachments[0].Name != reports.FilePDF || p.Attachments[0].Type != TypePDF ||
		p.Attachments[1].Name != reports.FileXLSX || p.Attachments[1].Type != TypeXLSX {
		t.Fatalf("owner attachments %v", p.Attachments)
	}
	text := pdfText(t, p.Attachments[0].Data)
	// The full report details every partner with a problem (the summary counts the others).
	for _, r := range res.Partners {
		if r.Verdict != audit.Valid && !strings.Contains(text, r.Name) {
			t.Errorf("full report does not mention %s", r.Name)
		}
	}
}

// TestComposeByTheRunsThresholds: without --expiring-days a mail calls a
// certificate expiring within the run's expiry_warning_days, and asks for
// an imported root's successor within its root_expiring_days.
func TestComposeByTheRunsThresholds(t *testing.T) {
	situation := func(res *audit.Results, days int, who string) Situation {
		t.Helper()
		plan, err := Compose(res, Options{Sender: "audit@corp.example", Date: started, ExpiringDays: days})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range plan.Messages {
			if strings.HasPrefix(m.Who(), who) {
				return m.Situation
			}
		}
		t.Fatalf("no message to %s", who)
		return ""
	}
	res := fixture() // Expiring Ltd's leaf ends in 10 days
	if got := situation(res, 0, "Expiring Ltd"); got != Expiring {
		t.Errorf("default thresholds (30 days): %s, want %s", got, Expiring)
	}
	th := audit.DefaultThresholds()
	th.ExpiryWarningDays, th.ExpiryErrorDays = 5, 2
	res.Thresholds = &th
	if got := situation(res, 0, "Expiring Ltd"); got != AllGood {
		t.Errorf("expiry_warning_days = 5: %s, want %s", got, AllGood)
	}
	if got := situation(res, 30, "Expiring Ltd"); got != Expiring {
		t.Errorf("--expiring-days 30 beside expiry_warning_days = 5: %s, want %s", got, Expiring)
	}
	// tailspin's root, imported from it, ends in 45 days.
	rows := []*audit.Result{ptr(tailspin())}
	for _, tt := range []struct {
		days int
		want Situation
	}{{90, RootSuccessor}, {30, AllGood}} {
		th := audit.DefaultThresholds()
		th.RootExpiringDays = tt.days
		a, err := Assess(rows, []audit.PrivateRoot{tailspinRoot}, started, 30, th, templates.Default())
		if err != nil {
			t.Fatal(err)
		}
		if a.Situation != tt.want {
			t.Errorf("root_expiring_days = %d: %s, want %s", tt.days, a.Situation, tt.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
