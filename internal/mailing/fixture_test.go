package mailing

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// started is the clock of the fixture run.
var started = time.Date(2026, 3, 16, 7, 30, 0, 123456789, time.UTC)

func cert(subject, issuer string, notAfter time.Time) audit.Cert {
	return audit.Cert{Subject: subject, Issuer: issuer, Serial: "0A", NotBefore: started.AddDate(-1, 0, 0), NotAfter: notAfter,
		SHA1: strings.Repeat("AB", 20), SHA256: strings.Repeat(strings.ToUpper(subject[3:5]), 32)[:64], DNSNames: []string{subject[3:]}, KeyType: "ECDSA", KeyBits: 256}
}

func result(name, domain string, enforced bool, contact string, vs []audit.Verdict, chain ...audit.Cert) audit.Result {
	r := audit.Result{
		Partner:  audit.Partner{Name: name, Domain: domain, Host: "mx." + domain, Port: 25, TLS: audit.StartTLS, Enforced: enforced, Contact: contact},
		Verdict:  audit.Primary(vs),
		Verdicts: vs,
		Chain:    chain,
		Details:  map[audit.Verdict]string{},
		Root:     audit.Root{Store: audit.RootSystem},
	}
	r.Remedy = r.Verdict.Remedy()
	for _, v := range vs {
		if v != audit.Valid {
			r.Details[v] = string(v) + " (detail for " + domain + ")"
		}
	}
	return r
}

// fixture is a run with one partner per situation and delivery problem.
// The names and domains are distinct words, so a PDF mentioning another
// partner is caught by a substring test.
func fixture() *audit.Results {
	far := started.AddDate(1, 0, 0)
	v := []audit.Verdict{audit.Valid}
	return &audit.Results{
		Schema:   audit.SchemaVersion,
		Started:  started,
		Finished: started.Add(time.Minute),
		Partners: []audit.Result{
			result("Müller GmbH", "mueller.example", true, "it@mueller.example; \"PKI Team\" <pki@mueller.example>",
				[]audit.Verdict{audit.UntrustedRoot}, cert("CN=mx.mueller.example", "CN=Müller Root", far)),
			result("Expiring Ltd", "expiring.example", false, "admin@expiring.example", v,
				cert("CN=mx.expiring.example", "CN=Public CA", started.AddDate(0, 0, 10))),
			result("Quiet Corp", "quiet.example", true, "tls@quiet.example", v, cert("CN=mx.quiet.example", "CN=Public CA", far)),
			result("Nocontact AG", "nocontact.example", false, "", []audit.Verdict{audit.PartialChain}, cert("CN=mx.nocontact.example", "CN=Public CA", far)),
			result("Bounce Inc", "bounce.example", false, "nobody@bounce.example", []audit.Verdict{audit.PartialChain},
				cert("CN=mx.bounce.example", "CN=Public CA", far)),
			result("Greylist SA", "greylist.example", false, "ops@greylist.example", []audit.Verdict{audit.NameMismatch},
				cert("CN=mx.other.example", "CN=Public CA", far)),
		},
	}
}

// otherNames lists the names and domains of every fixture partner but name.
func otherNames(res *audit.Results, name string) []string {
	var out []string
	for _, r := range res.Partners {
		if r.Name != name {
			out = append(out, r.Name, r.Domain)
		}
	}
	return out
}

// part is one attachment of a parsed message.
type part struct {
	Name, Type string
	Data       []byte
}

// parsed is a message read back with net/mail and mime/multipart.
type parsed struct {
	Header      mail.Header
	Subject     string
	Body        string
	Attachments []part
}

// parse reads raw as a MIME message, decoding the text body and every attachment.
func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail: %v", err)
	}
	dec := new(mime.WordDecoder)
	subj, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	p := parsed{Header: msg.Header, Subject: subj}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("content type: %v", err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("content type %s, want multipart", mt)
	}
	walk(t, &p, multipart.NewReader(msg.Body, params["boundary"]), dec)
	return p
}

func walk(t *testing.T, p *parsed, mr *multipart.Reader, dec *mime.WordDecoder) {
	t.Helper()
	for {
		pt, err := mr.NextRawPart() // NextPart would undo quoted-printable but not base64: decode both ourselves
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		mt, params, err := mime.ParseMediaType(pt.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("part content type: %v", err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			walk(t, p, multipart.NewReader(pt, params["boundary"]), dec)
			continue
		}
		data := decodePart(t, pt)
		if disp, dp, _ := mime.ParseMediaType(pt.Header.Get("Content-Disposition")); disp == "attachment" {
			name, err := dec.DecodeHeader(dp["filename"])
			if err != nil {
				t.Fatalf("file name %q: %v", dp["filename"], err)
			}
			p.Attachments = append(p.Attachments, part{Name: name, Type: mt, Data: data})
			continue
		}
		if mt == "text/plain" {
			p.Body += strings.ReplaceAll(string(data), "\r\n", "\n")
		}
	}
}

func decodePart(t *testing.T, pt *multipart.Part) []byte {
	t.Helper()
	var r io.Reader = pt
	switch strings.ToLower(pt.Header.Get("Content-Transfer-Encoding")) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, pt)
	case "quoted-printable":
		r = quotedprintable.NewReader(pt)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding part: %v", err)
	}
	return b
}

// pdfText returns the text of a PDF as pdftotext extracts it. Without
// pdftotext (Debian poppler-utils) the test fails when CI=true and is skipped otherwise.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		msg := "pdftotext not found: install poppler-utils (apt-get install -y poppler-utils) to check the PDFs' text"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	p := filepath.Join(t.TempDir(), "a.pdf")
	if err := os.WriteFile(p, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-enc", "UTF-8", p, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}
