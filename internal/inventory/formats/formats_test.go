package formats_test

import (
	"os"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/internal/inventory/formats"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
)

func TestDetect(t *testing.T) {
	cases := []struct {
		file string
		want formats.Format
	}{
		{"../testdata/comma.csv", formats.PartnerCSV},
		{"../testdata/excel-semicolon.csv", formats.PartnerCSV},
		{"../postfix/testdata/tls_policy", formats.PostfixPolicyMap},
		{"../postfix/testdata/tls_policy.bad", formats.PostfixPolicyMap},
		{"../postfix/testdata/main.cf", formats.PostfixMainCF},
		{"../exchange/testdata/send-connectors-utf8bom.csv", formats.SendConnectors},
		{"../exchange/testdata/send-connectors-utf16le.csv", formats.SendConnectors},
		{"../exchange/testdata/send-connectors-semicolon.csv", formats.SendConnectors},
		{"../exchange/testdata/outbound-connectors.csv", formats.OutboundConns},
		{"../exchange/testdata/outbound-connectors-utf16le.csv", formats.OutboundConns},
		{"../exchange/testdata/domain-secure.txt", formats.DomainSecureList},
		{"../exchange/testdata/domain-secure-table-utf16le.txt", formats.DomainSecureList},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := formats.Detect(tc.file, data); got != tc.want {
				t.Errorf("Detect = %q, want %q", got, tc.want)
			}
		})
	}
	inline := []struct {
		name, file, text string
		want             formats.Format
	}{
		{"main.cf by name", "/etc/postfix/main.cf", "", formats.PostfixMainCF},
		{"main.cf by content", "postfix.conf", "# x\nmyhostname = a\nsmtp_tls_security_level=may\n", formats.PostfixMainCF},
		{"policy map by content", "policy", "example.com encrypt\n.example.com secure\n", formats.PostfixPolicyMap},
		{"binary", "x", "\x00\x01\x02\x03garbage\xff", formats.Unknown},
		{"empty", "x", "", formats.Unknown},
		{"prose", "x", "Dear admin,\nplease find the connectors attached.\n", formats.Unknown},
	}
	for _, tc := range inline {
		t.Run(tc.name, func(t *testing.T) {
			if got := formats.Detect(tc.file, []byte(tc.text)); got != tc.want {
				t.Errorf("Detect = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, f := range formats.All {
		if got, err := formats.Parse(strings.ToUpper(string(f))); err != nil || got != f {
			t.Errorf("Parse(%q) = %q, %v", f, got, err)
		}
	}
	if _, err := formats.Parse("sendmail"); err == nil || !strings.Contains(err.Error(), "postfix-policy") {
		t.Errorf("err = %v", err)
	}
}

func TestReadFileErrors(t *testing.T) {
	if _, _, err := formats.ReadFile("../testdata/comma.csv", formats.Unknown); err == nil || !strings.Contains(err.Error(), "internal/inventory") {
		t.Errorf("partner CSV: %v", err)
	}
	if _, _, err := formats.ReadFile("../postfix/testdata/main.cf", formats.SendConnectors); err == nil || !strings.Contains(err.Error(), "main.cf:1:") {
		t.Errorf("wrong format given: %v", err)
	}
	if _, _, err := formats.ReadFile("../exchange/testdata/outbound-connectors.csv", formats.SendConnectors); err == nil || !strings.Contains(err.Error(), "not that of a exchange-send export") {
		t.Errorf("outbound read as send: %v", err)
	}
	if _, _, err := formats.Read([]byte("Dear admin"), "mail.txt", formats.Unknown); err == nil || !strings.Contains(err.Error(), "mail.txt:1: cannot tell the format") {
		t.Errorf("unknown: %v", err)
	}
	if _, _, err := formats.ReadFile("nonexistent", formats.Unknown); err == nil {
		t.Error("no error for a missing file")
	}
}

// TestGatherAndEvaluate reads a whole Postfix and Exchange Server setup
// and evaluates one target under all of it.
func TestGatherAndEvaluate(t *testing.T) {
	var invs []*formats.Inventory
	for _, f := range []string{"../postfix/testdata/main.cf", "../postfix/testdata/tls_policy", "../exchange/testdata/send-connectors-utf16le.csv", "../exchange/testdata/domain-secure-table-utf16le.txt", "../exchange/testdata/outbound-connectors.csv"} {
		inv, errs, err := formats.ReadFile(f, formats.Unknown)
		if err != nil || len(errs) > 0 {
			t.Fatal(f, err, errs)
		}
		invs = append(invs, inv)
	}
	m, errs := formats.Gather(invs...)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if !m.HasPostfix || !m.HasServer || !m.HasOnline || m.Postfix.MainCF != "../postfix/testdata/main.cf" || len(m.PolicyMap.Entries) != 12 {
		t.Fatalf("gathered %+v", m)
	}
	// A target that offers no STARTTLS, for the contoso.example next hop
	// (Postfix verify), mueller.example (Domain Security) and a domain of
	// no entry (main.cf's may).
	in := mtapolicy.Input{MXHost: "mx.test", STARTTLS: false}
	cases := []struct {
		dest string
		want []string // outcome and MTA per decision
	}{
		{"contoso.example", []string{"deferred Postfix", "delivers-unauthenticated Exchange Server", "delivers-unauthenticated Exchange Online"}},
		{"mueller.example", []string{"delivers-unauthenticated Postfix", "deferred Exchange Server", "delivers-unauthenticated Exchange Online"}},
		{"contoso.com", []string{"delivers-unauthenticated Postfix", "deferred Exchange Server", "deferred Exchange Online"}},
	}
	for _, tc := range cases {
		t.Run(tc.dest, func(t *testing.T) {
			ds := m.Evaluate(tc.dest, in)
			if len(ds) != len(tc.want) {
				t.Fatalf("decisions %v", ds)
			}
			for i, d := range ds {
				if got := string(d.Outcome) + " " + d.MTA; got != tc.want[i] {
					t.Errorf("decision %d = %s, want %s", i, d, tc.want[i])
				}
			}
		})
	}
	if d := m.Evaluate("mueller.example", in)[1]; !strings.Contains(d.Rule, "Domain Security") || !strings.Contains(d.Policy, "Domain Secure – Müller") {
		t.Errorf("mueller.example under Exchange Server: %s", d)
	}
}
