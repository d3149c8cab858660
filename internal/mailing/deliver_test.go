package mailing

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/mailing/mailtest"
	"github.com/mxaudit/mxaudit/reports"
)

const (
	user     = "audit-bot"
	password = "s3cret-Pa55word!" // must never show up in any output
)

func composeFixture(t *testing.T, res *audit.Results) *Plan {
	t.Helper()
	plan, err := Compose(res, Options{Sender: "audit@corp.example", Owner: "owner@corp.example", Date: started})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func fastRetry(log *SendLog) DeliverOptions {
	return DeliverOptions{Log: log, Retries: 3, Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Now: func() time.Time { return started.Add(time.Hour) }}
}

func newSMTP(t *testing.T, srv *mailtest.Server, mode audit.TLSMode, mech string, pass string, roots *x509.CertPool) *SMTP {
	t.Helper()
	tr, err := NewSMTP(SMTPConfig{Addr: srv.Addr, TLS: mode, Roots: roots, User: user, Password: pass, Auth: mech, HELO: "audit.test", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func byWho(outs []Outcome) map[string]Outcome {
	m := map[string]Outcome{}
	for _, o := range outs {
		m[o.Message.Who()] = o
	}
	return m
}

// TestDeliverSMTP sends the fixture through a real SMTP server with TLS
// and AUTH, one refused address and one greylisted, then sends again.
func TestDeliverSMTP(t *testing.T) {
	tests := []struct {
		name     string
		implicit bool
		mode     audit.TLSMode
		offered  []string
		mech     string
		wantMech string
	}{
		{"STARTTLS, AUTH PLAIN", false, audit.StartTLS, nil, AuthPlain, "PLAIN"},
		{"implicit TLS, AUTH LOGIN", true, audit.Implicit, nil, AuthLogin, "LOGIN"},
		{"STARTTLS, auto picks LOGIN when PLAIN is not offered", false, audit.StartTLS, []string{"LOGIN"}, AuthAuto, "LOGIN"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{Implicit: tt.implicit, Mechs: tt.offered, Users: map[string]string{user: password},
				Rules: []mailtest.Rule{{Rcpt: "nobody@bounce.example", Code: 550}, {Rcpt: "ops@greylist.example", Code: 450, Times: 2}}})
			res := fixture()
			logPath := filepath.Join(t.TempDir(), LogFile)
			log, err := OpenLog(logPath)
			if err != nil {
				t.Fatal(err)
			}
			plan := composeFixture(t, res)
			var progress []string
			o := fastRetry(log)
			o.Progress = func(oc Outcome) { progress = append(progress, oc.Message.Who()) }
			outs := Deliver(context.Background(), newSMTP(t, srv, tt.mode, tt.mech, password, srv.Pool), plan, o)
			if len(outs) != len(plan.Messages) || len(progress) != len(outs) {
				t.Fatalf("%d outcomes, %d progress calls for %d messages", len(outs), len(progress), len(plan.Messages))
			}
			got := byWho(outs)

			// 5xx: reported for that message only, not retried.
			bounce := got["Bounce Inc <nobody@bounce.example>"]
			var se *SendError
			if bounce.Status != Failed || !errors.As(bounce.Err, &se) || se.Code != 550 || se.Temporary || bounce.Attempts != 1 || srv.Tries("nobody@bounce.example") != 1 {
				t.Errorf("bounce: %s after %d attempts (%d RCPTs): %v", bounce.Status, bounce.Attempts, srv.Tries("nobody@bounce.example"), bounce.Err)
			}
			// 4xx twice: retried, then delivered.
			if g := got["Greylist SA <ops@greylist.example>"]; g.Status != Sent || g.Attempts != 3 || srv.Tries("ops@greylist.example") != 3 {
				t.Errorf("greylisted: %s after %d attempts: %v", g.Status, g.Attempts, g.Err)
			}
			for _, m := range plan.Messages {
				oc := got[m.Who()]
				if m.To == "nobody@bounce.example" {
					if n := len(srv.For(m.To)); n != 0 {
						t.Errorf("refused address got %d messages", n)
					}
					continue
				}
				if oc.Status != Sent {
					t.Errorf("%s: %s: %v", m.Who(), oc.Status, oc.Err)
					continue
				}
				recv := srv.For(m.To)
				if len(recv) != 1 {
					t.Errorf("%s received %d messages, want 1", m.To, len(recv))
					continue
				}
				r := recv[0]
				if !r.TLS || r.User != user || r.Mech != tt.wantMech || r.From != "audit@corp.example" || !slices.Equal(r.To, []string{m.To}) {
					t.Errorf("%s: TLS %v user %q mech %q from %q to %v", m.To, r.TLS, r.User, r.Mech, r.From, r.To)
				}
				p := parse(t, r.Data)
				if id := p.Header.Get("Message-Id"); id != "<"+m.ID+">" {
					t.Errorf("%s: Message-ID %s, want <%s>", m.To, id, m.ID)
				}
				if i > 0 { // the PDFs' text is checked once (first case), the attachments every time
					checkNames(t, res, m, p)
					continue
				}
				if m.Owner {
					checkOwnerAttachments(t, res, p)
				} else {
					checkNames(t, res, m, p)
					checkOnlyPartner(t, res, m.Partner, pdfText(t, p.Attachments[0].Data))
				}
			}
			if a := srv.Auths(); len(a) == 0 || a[0] != tt.wantMech+" "+user {
				t.Errorf("auths %v", a)
			}
			if len(srv.Auths()) != 1 {
				t.Errorf("%d logins for one run: the connection was not reused", len(srv.Auths()))
			}
			delivered := len(srv.Messages())
			if delivered != len(plan.Messages)-1 {
				t.Errorf("%d messages delivered, want %d", delivered, len(plan.Messages)-1)
			}

			// Second run of the same audit, composed afresh: nothing twice, the refused address tried again.
			log2, err := OpenLog(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if len(log2.Entries) != delivered {
				t.Errorf("send log has %d entries, want %d", len(log2.Entries), delivered)
			}
			outs = Deliver(context.Background(), newSMTP(t, srv, tt.mode, tt.mech, password, srv.Pool), composeFixture(t, res), fastRetry(log2))
			for _, oc := range outs {
				want := AlreadySent
				if oc.Message.To == "nobody@bounce.example" {
					want = Failed
				}
				if oc.Status != want {
					t.Errorf("re-run: %s %s, want %s", oc.Message.Who(), oc.Status, want)
				}
				if oc.Status == AlreadySent && oc.Previous.MessageID == "" {
					t.Errorf("re-run: %s: no previous message id", oc.Message.Who())
				}
			}
			if n := len(srv.Messages()); n != delivered {
				t.Errorf("re-run delivered %d more messages", n-delivered)
			}
			// --resend sends everything again.
			o = fastRetry(log2)
			o.Resend = true
			Deliver(context.Background(), newSMTP(t, srv, tt.mode, tt.mech, password, srv.Pool), composeFixture(t, res), o)
			if n := len(srv.Messages()); n != 2*delivered {
				t.Errorf("resend: %d messages in all, want %d", n, 2*delivered)
			}

			b, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			noSecret(t, "send log", string(b))
			for _, oc := range outs {
				if oc.Err != nil {
					noSecret(t, "error", oc.Err.Error())
				}
			}
			for _, m := range srv.Messages() {
				noSecret(t, "message", string(m.Data))
			}
		})
	}
}

func checkNames(t *testing.T, res *audit.Results, m *Message, p parsed) {
	t.Helper()
	if m.Owner {
		if len(p.Attachments) != 2 || p.Attachments[0].Name != reports.FilePDF || p.Attachments[1].Name != reports.FileXLSX {
			t.Errorf("owner attachments %v", p.Attachments)
		}
		return
	}
	i := slices.IndexFunc(res.Partners, func(r audit.Result) bool { return r.Name == m.Partner })
	want := reports.PartnerFileNames(res)[i]
	if len(p.Attachments) != 1 || p.Attachments[0].Name != want || p.Attachments[0].Type != TypePDF || !strings.HasPrefix(string(p.Attachments[0].Data), "%PDF-") {
		t.Errorf("%s: attachments %v, want one %s %s", m.To, p.Attachments, want, TypePDF)
	}
}

func noSecret(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, password) {
		t.Errorf("%s contains the password", what)
	}
}

// TestDeliverConnectionFailures checks that a connection that cannot be set
// up fails every message at once: permanent problems (an untrusted server
// certificate, a wrong password) without retrying, a server that is down
// after the retries.
func TestDeliverConnectionFailures(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Users: map[string]string{user: password}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	tests := []struct {
		name     string
		addr     string
		roots    *x509.CertPool
		pass     string
		attempts int
		want     string
	}{
		{"untrusted certificate", srv.Addr, x509.NewCertPool(), password, 1, "certificate signed by unknown authority"},
		{"wrong password", srv.Addr, srv.Pool, "wrong", 1, "535"},
		{"server down", down, srv.Pool, password, 4, "connection refused"},
	}
	res := fixture()
	plan := composeFixture(t, res)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Messages())
			tr, err := NewSMTP(SMTPConfig{Addr: tt.addr, Roots: tt.roots, User: user, Password: tt.pass, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			outs := Deliver(context.Background(), tr, plan, fastRetry(nil))
			for i, oc := range outs {
				if oc.Status != Failed || !strings.Contains(oc.Err.Error(), tt.want) {
					t.Errorf("%s: %s: %v", oc.Message.Who(), oc.Status, oc.Err)
				}
				if i == 0 && oc.Attempts != tt.attempts {
					t.Errorf("first message: %d attempts, want %d", oc.Attempts, tt.attempts)
				}
				if i > 0 && oc.Attempts != 0 {
					t.Errorf("%s: %d attempts after the connection failed", oc.Message.Who(), oc.Attempts)
				}
				noSecret(t, "error", oc.Err.Error())
			}
			if n := len(srv.Messages()) - before; n != 0 {
				t.Errorf("%d messages delivered", n)
			}
		})
	}
	if f := srv.FailedAuths(); len(f) != 1 {
		t.Errorf("failed logins %v: a wrong password must not be retried", f)
	}
}

// TestDryRunEML writes the plan as .eml files and reads every one back with net/mail and mime/multipart.
func TestDryRunEML(t *testing.T) {
	res := fixture()
	plan := composeFixture(t, res)
	dir := &Dir{Path: filepath.Join(t.TempDir(), "out")}
	outs := Deliver(context.Background(), dir, plan, DeliverOptions{})
	if len(dir.Written) != len(plan.Messages) {
		t.Fatalf("%d files for %d messages", len(dir.Written), len(plan.Messages))
	}
	for i, p := range dir.Written {
		m := plan.Messages[i]
		if outs[i].Status != Sent {
			t.Errorf("%s: %s %v", m.Who(), outs[i].Status, outs[i].Err)
		}
		want := fmt.Sprintf("%02d-%s-%s.eml", i+1, fileSafe(m.Partner), m.To)
		if m.Owner {
			want = fmt.Sprintf("%02d-owner-%s.eml", i+1, m.To)
		}
		if filepath.Base(p) != want {
			t.Errorf("file %s, want %s", filepath.Base(p), want)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		msg := parse(t, b)
		to, err := mail.ParseAddress(msg.Header.Get("To"))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Subject != m.Subject || to.Address != m.To || msg.Header.Get("From") != "<audit@corp.example>" {
			t.Errorf("%s: subject %q to %q from %q", p, msg.Subject, msg.Header.Get("To"), msg.Header.Get("From"))
		}
		if d, err := msg.Header.Date(); err != nil || !d.Equal(started.Truncate(time.Second)) {
			t.Errorf("%s: date %v %v", p, d, err)
		}
		checkNames(t, res, m, msg)
	}
}

func TestRate(t *testing.T) {
	res := fixture()
	res.Partners = res.Partners[1:3]
	plan, err := Compose(res, Options{Sender: "audit@corp.example", Owner: "a@corp.example, b@corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Messages) != 4 {
		t.Fatalf("%d messages", len(plan.Messages))
	}
	start := time.Now()
	Deliver(context.Background(), &Dir{Path: t.TempDir()}, plan, DeliverOptions{Rate: 1200}) // one per 50 ms
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("4 messages at 1200/min took %v, want >= 150ms", d)
	}
}

func TestCancel(t *testing.T) {
	plan := composeFixture(t, fixture())
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	outs := Deliver(ctx, &Dir{Path: t.TempDir()}, plan, DeliverOptions{Progress: func(Outcome) {
		if n++; n == 2 {
			cancel()
		}
	}})
	for i, oc := range outs {
		if want := i < 2; (oc.Status == Sent) != want {
			t.Errorf("%d %s: %s %v", i, oc.Message.Who(), oc.Status, oc.Err)
		}
	}
}

// BenchmarkDeliverSMTP measures submitting composed messages (one PDF each)
// over one STARTTLS connection with AUTH to the local test server.
func BenchmarkDeliverSMTP(b *testing.B) {
	srv := mailtest.Start(b, mailtest.Options{Users: map[string]string{user: password}})
	res := fixture()
	plan, err := Compose(res, Options{Sender: "audit@corp.example", Date: started})
	if err != nil {
		b.Fatal(err)
	}
	tr, err := NewSMTP(SMTPConfig{Addr: srv.Addr, Roots: srv.Pool, User: user, Password: password})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	b.ResetTimer()
	for b.Loop() {
		for _, oc := range Deliver(context.Background(), tr, plan, DeliverOptions{}) {
			if oc.Status != Sent {
				b.Fatal(oc.Err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*len(plan.Messages)), "ms/msg")
}

// BenchmarkCompose measures rendering the messages of the fixture (six partners' PDFs, the owner's PDF and workbook).
func BenchmarkCompose(b *testing.B) {
	res := fixture()
	for b.Loop() {
		if _, err := Compose(res, Options{Sender: "audit@corp.example", Owner: "owner@corp.example", Date: started}); err != nil {
			b.Fatal(err)
		}
	}
}
