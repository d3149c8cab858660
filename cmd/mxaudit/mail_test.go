package main

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/history"
	"github.com/mxaudit/mxaudit/internal/mailing"
	"github.com/mxaudit/mxaudit/internal/mailing/mailtest"
)

const mailPassword = "hunter2-Secret-Pass" // must never show up in any output

// mailResults writes a small run with a failing, an all-good and a refused partner, and returns its path.
func mailResults(t *testing.T, dir string) (string, *audit.Results) {
	t.Helper()
	started := time.Date(2026, 3, 16, 7, 30, 0, 987654321, time.UTC)
	leaf := func(host string) []audit.Cert {
		return []audit.Cert{{Subject: "CN=" + host, Issuer: "CN=Public CA", Serial: "01", NotBefore: started.AddDate(-1, 0, 0), NotAfter: started.AddDate(1, 0, 0)}}
	}
	r := func(name, domain, contact string, v audit.Verdict, enforced bool) audit.Result {
		return audit.Result{Partner: audit.Partner{Name: name, Domain: domain, Host: "mx." + domain, Port: 25, TLS: audit.StartTLS, Contact: contact, Enforced: enforced},
			Verdict: v, Verdicts: []audit.Verdict{v}, Remedy: v.Remedy(), Chain: leaf("mx." + domain), Root: audit.Root{Store: audit.RootSystem}}
	}
	res := &audit.Results{Schema: audit.SchemaVersion, Started: started, Finished: started.Add(time.Minute), Inventory: filepath.Join(dir, "inventory.csv"),
		Partners: []audit.Result{
			r("Alpha GmbH", "alpha.example", "it@alpha.example", audit.UntrustedRoot, true),
			r("Beta Ltd", "beta.example", "tls@beta.example", audit.Valid, false),
			r("Bounce Inc", "bounce.example", "nobody@bounce.example", audit.PartialChain, false),
		}}
	p := filepath.Join(dir, "results.json")
	if err := audit.WriteResults(p, res); err != nil {
		t.Fatal(err)
	}
	return p, res
}

// runMail runs mxaudit in-process and returns its stdout, stderr and exit code.
func runMail(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &o, &e
	err := app.Run(append([]string{"mxaudit"}, args...))
	var ec cli.ExitCoder
	switch {
	case err == nil:
	case errors.As(err, &ec):
		code = ec.ExitCode()
		e.WriteString("mxaudit: " + err.Error() + "\n")
	default:
		code = exitUsage
		e.WriteString("mxaudit: " + err.Error() + "\n")
	}
	for name, s := range map[string]string{"stdout": o.String(), "stderr": e.String()} {
		if strings.Contains(s, mailPassword) {
			t.Errorf("the password is in %s:\n%s", name, s)
		}
	}
	return o.String(), e.String(), code
}

func TestMailCommand(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Users: map[string]string{"bot": mailPassword},
		Rules: []mailtest.Rule{{Rcpt: "nobody@bounce.example", Code: 550}}})
	dir := t.TempDir()
	results, _ := mailResults(t, dir)
	roots := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(roots, srv.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(passwordEnv, mailPassword)
	base := []string{"mail", "--from", results, "--sender", "audit@corp.example", "--smtp", srv.Addr, "--roots", roots,
		"--smtp-user", "bot", "--rate", "0", "--retry-wait", "1ms", "--smtp-timeout", "5s"}

	out, errOut, code := runMail(t, append(base, "--to-owner", "owner@corp.example")...)
	if code != exitFindings {
		t.Fatalf("exit %d, want %d (a refused address)\n%s%s", code, exitFindings, out, errOut)
	}
	for _, want := range []string{
		"sent          Alpha GmbH <it@alpha.example> (failing)",
		"sent          Beta Ltd <tls@beta.example> (ok)",
		"FAILED        Bounce Inc <nobody@bounce.example> (failing): ",
		"550",
		"sent          owner <owner@corp.example> (full report)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "1 message(s) could not be delivered") {
		t.Errorf("stderr:\n%s", errOut)
	}
	if n := len(srv.Messages()); n != 3 {
		t.Fatalf("%d messages delivered, want 3", n)
	}
	for _, m := range srv.Messages() {
		if strings.Contains(string(m.Data), mailPassword) {
			t.Error("a message contains the password")
		}
	}

	// Again: nothing twice; the refused address is tried again and still fails.
	out, errOut, code = runMail(t, append(base, "--to-owner", "owner@corp.example")...)
	if code != exitFindings || strings.Count(out, "already sent") != 3 || !strings.Contains(out, "FAILED        Bounce Inc") {
		t.Errorf("re-run: exit %d\n%s%s", code, out, errOut)
	}
	if n := len(srv.Messages()); n != 3 {
		t.Errorf("re-run delivered %d more", n-3)
	}
	logb, err := os.ReadFile(filepath.Join(dir, mailing.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(logb), mailPassword) {
		t.Error("the send log contains the password")
	}

	// The password from a file instead, one partner, --resend.
	t.Setenv(passwordEnv, "")
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(mailPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runMail(t, append(base, "--smtp-password-file", pwFile, "--partners", "Beta Ltd", "--resend")...)
	if code != 0 || !strings.Contains(out, "sent          Beta Ltd") || strings.Contains(out, "Alpha") {
		t.Errorf("--partners --resend: exit %d\n%s%s", code, out, errOut)
	}
	if got := srv.For("tls@beta.example"); len(got) != 2 {
		t.Errorf("Beta got %d messages, want 2", len(got))
	}
	if a := srv.FailedAuths(); len(a) != 0 {
		t.Errorf("failed logins %v", a)
	}
}

// TestMailRun mails a run of the history database as .eml files, and
// checks that the send log knows a run sent from its results.json when it
// is mailed again by id.
func TestMailRun(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	dir := t.TempDir()
	results, res := mailResults(t, dir)
	dbPath := filepath.Join(dir, "history.db")
	db, err := history.Open(dbPath, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.Begin(res.Inventory, res.Started)
	if err == nil {
		err = db.Record(id, res)
	}
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	roots := filepath.Join(dir, "ca.pem")
	os.WriteFile(roots, srv.CAPEM, 0o644)
	sendLog := filepath.Join(dir, "log.json")
	idS := []string{"--run", strconv.FormatInt(id, 10), "--db", dbPath}

	t.Setenv(passwordEnv, mailPassword)
	out, errOut, code := runMail(t, append([]string{"mail", "--sender", "audit@corp.example", "--dry-run", "--out", filepath.Join(dir, "eml"), "--only-failing"}, idS...)...)
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "eml", "*.eml"))
	if len(files) != 2 { // Alpha and Bounce: --only-failing
		t.Fatalf("dry run wrote %v", files)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), mailPassword) {
			t.Errorf("%s contains the password", f)
		}
		m, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if m.Header.Get("X-Mxaudit-Run") != mailing.RunKey(res) {
			t.Errorf("%s: run header %q", f, m.Header.Get("X-Mxaudit-Run"))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, mailing.LogFile)); err == nil {
		t.Error("a dry run wrote the send log")
	}

	smtp := []string{"mail", "--sender", "audit@corp.example", "--smtp", srv.Addr, "--roots", roots, "--rate", "0", "--send-log", sendLog, "--partners", "Alpha GmbH"}
	if out, errOut, code := runMail(t, append(smtp, "--from", results)...); code != 0 || !strings.Contains(out, "sent          Alpha GmbH") {
		t.Fatalf("--from: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := runMail(t, append(smtp, idS...)...); code != 0 || !strings.Contains(out, "already sent  Alpha GmbH") {
		t.Errorf("--run after --from: exit %d\n%s%s", code, out, errOut)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

func TestMailUsage(t *testing.T) {
	dir := t.TempDir()
	results, _ := mailResults(t, dir)
	t.Setenv(passwordEnv, "")
	ok := []string{"mail", "--from", results, "--sender", "audit@corp.example"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"neither --from nor --run", []string{"mail", "--sender", "a@b.example", "--dry-run", "--out", dir}, "exactly one of --from"},
		{"no sender", []string{"mail", "--from", results, "--dry-run", "--out", dir}, "--sender"},
		{"no server", ok, "--smtp HOST:PORT is required"},
		{"dry run without --out", append(ok, "--dry-run"), "--dry-run needs --out"},
		{"password as a flag", append(ok, "--smtp", "127.0.0.1:1", "--smtp-password", mailPassword), "flag provided but not defined"},
		{"user without password", append(ok, "--smtp", "127.0.0.1:1", "--smtp-user", "bot"), passwordEnv},
		{"bad tls mode", append(ok, "--smtp", "127.0.0.1:1", "--smtp-tls", "none"), "want starttls or implicit"},
		{"bad server address", append(ok, "--smtp", "127.0.0.1"), "HOST:PORT"},
		{"unknown partner", append(ok, "--dry-run", "--out", dir, "--partners", "Gamma AG"), `"Gamma AG"`},
		{"bad owner", append(ok, "--dry-run", "--out", dir, "--to-owner", "nope"), "--to-owner"},
		{"missing results", []string{"mail", "--from", filepath.Join(dir, "none.json"), "--sender", "a@b.example", "--dry-run", "--out", dir}, "none.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runMail(t, tt.args...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, want %d with %q\n%s%s", code, exitUsage, tt.want, out, errOut)
			}
		})
	}
}

// TestMailDuplicatePartner: an inventory listing one partner with two MX
// hosts is mailed one message covering both, and a re-run sends nothing
// twice (the issue: the second row was dropped as "already sent").
func TestMailDuplicatePartner(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	dir := t.TempDir()
	_, res := mailResults(t, dir)
	second := res.Partners[0] // Alpha GmbH again, on another host, without problems
	second.Host, second.Verdict, second.Verdicts = "mx2.alpha.example", audit.Valid, []audit.Verdict{audit.Valid}
	res.Partners = append(res.Partners, second)
	results := filepath.Join(dir, "results.json")
	if err := audit.WriteResults(results, res); err != nil {
		t.Fatal(err)
	}
	roots := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(roots, srv.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"mail", "--from", results, "--sender", "audit@corp.example", "--smtp", srv.Addr, "--roots", roots, "--rate", "0", "--partners", "Alpha GmbH"}
	for run, want := range []string{"sent          Alpha GmbH <it@alpha.example> (failing)", "already sent  Alpha GmbH <it@alpha.example>"} {
		out, errOut, code := runMail(t, args...)
		if code != 0 || strings.Count(out, "Alpha GmbH") != 1 || !strings.Contains(out, want) {
			t.Errorf("run %d: exit %d, want one line %q\n%s%s", run+1, code, want, out, errOut)
		}
	}
	got := srv.For("it@alpha.example")
	if len(got) != 1 {
		t.Fatalf("it@alpha.example got %d messages, want 1", len(got))
	}
	m, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(m.Body)
	for _, s := range []string{"mx.alpha.example (port 25): UntrustedRoot", "mx2.alpha.example (port 25): no findings", "Alpha-GmbH.pdf"} {
		if !strings.Contains(string(body), s) {
			t.Errorf("the message lacks %q", s)
		}
	}
}

// emltext IN.eml OUT writes the decoded subject ("Subject: ...") and text body of a
// message to OUT, for grep in the scripts; the attachments' names follow as "Attachment: NAME".
func cmdEMLText(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: emltext IN.eml OUT")
	}
	raw, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	ts.Check(err)
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	ts.Check(err)
	var out strings.Builder
	out.WriteString("Subject: " + subject + "\n\n")
	var walk func(r io.Reader, contentType string)
	walk = func(r io.Reader, contentType string) {
		mt, params, err := mime.ParseMediaType(contentType)
		ts.Check(err)
		if !strings.HasPrefix(mt, "multipart/") {
			return
		}
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextPart() // undoes quoted-printable
			if err == io.EOF {
				return
			}
			ts.Check(err)
			ct := p.Header.Get("Content-Type")
			switch {
			case strings.HasPrefix(ct, "multipart/"):
				walk(p, ct)
			case p.FileName() != "":
				name, err := dec.DecodeHeader(p.FileName())
				ts.Check(err)
				out.WriteString("Attachment: " + name + "\n")
			case strings.HasPrefix(ct, "text/plain"):
				b, err := io.ReadAll(p)
				ts.Check(err)
				out.WriteString(strings.ReplaceAll(string(b), "\r\n", "\n"))
			}
		}
	}
	walk(m.Body, m.Header.Get("Content-Type"))
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(out.String()), 0o644))
}
