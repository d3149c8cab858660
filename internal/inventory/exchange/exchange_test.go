package exchange_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/internal/inventory/exchange"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
)

// rule writes a connector back in one line, to compare.
func rule(r mtapolicy.ExchangeRule) string {
	return fmt.Sprintf("%s|%v|%v|dns=%v|smart=%v|req=%v|%s|%s|ds=%v|ign=%v|dane=%s|sts=%s|line=%d",
		r.Connector, r.AddressSpaces, r.Costs, r.DNSRouting, r.SmartHosts, r.RequireTLS, r.TLSAuth, r.TLSDomain, r.DomainSecure, r.IgnoreSTARTTLS, r.DaneMode, r.MtaStsMode, r.Line)
}

var wantSend = []string{
	"Internet|[*]|[1]|dns=true|smart=[]|req=false|||ds=false|ign=false|dane=|sts=|line=3",
	"Partners TLS|[contoso.com fabrikam.com]|[1 2]|dns=true|smart=[]|req=true|DomainValidation|*.mail.protection.outlook.com|ds=false|ign=false|dane=|sts=|line=4",
	"Domain Secure – Müller|[mueller.example]|[1]|dns=true|smart=[]|req=true|CertificateValidation||ds=true|ign=false|dane=|sts=|line=5",
	"Via relay|[legacy.example *.legacy.example]|[5 5]|dns=false|smart=[[192.0.2.25] relay.corp.example]|req=true|EncryptionOnly||ds=false|ign=false|dane=|sts=|line=6",
	"No TLS fax|[fax.example]|[1]|dns=true|smart=[]|req=false|||ds=false|ign=true|dane=|sts=|line=7",
}

func TestReadSendConnectors(t *testing.T) {
	cases := []struct {
		file  string
		shift int // line offset: no #TYPE line
	}{
		{"testdata/send-connectors-utf8bom.csv", 0},
		{"testdata/send-connectors-utf16le.csv", 0},
		{"testdata/send-connectors-semicolon.csv", -1},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			kind, rules, errs, err := exchange.ReadConnectorsFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if kind != exchange.SendConnectors || len(errs) > 0 {
				t.Fatalf("kind %d, errors %v", kind, errs)
			}
			if len(rules) != len(wantSend) {
				t.Fatalf("%d connectors, want %d (the disabled one left out)", len(rules), len(wantSend))
			}
			for i, r := range rules {
				want := strings.Replace(wantSend[i], fmt.Sprintf("line=%d", i+3), fmt.Sprintf("line=%d", i+3+tc.shift), 1)
				if got := rule(r); got != want {
					t.Errorf("connector %d\n got %s\nwant %s", i, got, want)
				}
				if r.Online || r.File != tc.file {
					t.Errorf("online %v file %q", r.Online, r.File)
				}
			}
			if rules[0].TLSCertificateName != "<I>CN=R11, O=Let's Encrypt, C=US<S>CN=mail.corp.example" {
				t.Errorf("TlsCertificateName %q", rules[0].TLSCertificateName)
			}
		})
	}
}

func TestReadSendConnectorsErrors(t *testing.T) {
	_, rules, errs, err := exchange.ReadConnectorsFile("testdata/send-connectors-bad.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`testdata/send-connectors-bad.csv:3: column "TlsAuthLevel": invalid TLS authentication level "DomainValidaton"`,
		`testdata/send-connectors-bad.csv:4: column "RequireTLS": "Yes please" is not True or False`,
		`testdata/send-connectors-bad.csv:5: column "AddressSpaces": address space "SMTP:contoso.com;abc": cost "abc" is not a number from 1 to 100`,
		`testdata/send-connectors-bad.csv:6: column "AddressSpaces": the cell holds the type name "Microsoft.Exchange.Data.MultiValuedProperty`,
		`testdata/send-connectors-bad.csv:7: column "TlsAuthLevel": TlsAuthLevel CertificateValidation needs RequireTLS True`,
		`testdata/send-connectors-bad.csv:8: column "AddressSpaces": address space "SMTP:mail.*.contoso.com;1": "mail.*.contoso.com": a wildcard is allowed only as the leftmost label`,
		`testdata/send-connectors-bad.csv:10: column "SmartHosts": DNSRoutingEnabled is False but no smart host is given`,
	}
	if len(errs) != len(want) {
		t.Fatalf("errors %v", errs)
	}
	for i, w := range want {
		if !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("error %d\n got %s\nwant %s...", i, errs[i], w)
		}
	}
	if len(rules) != 1 || rules[0].Connector != "Fine" || rules[0].Line != 9 {
		t.Errorf("rules %v", rules)
	}
}

func TestReadOutboundConnectors(t *testing.T) {
	want := []string{
		"To Contoso (DANE mandatory)|[contoso.com *.contoso.com]|[]|dns=true|smart=[]|req=true|DomainValidation|*.contoso.com|ds=false|ign=false|dane=Mandatory|sts=Opportunistic|line=3",
		"To Fabrikam via smart host|[fabrikam.com]|[]|dns=false|smart=[smtp.fabrikam.com]|req=true|CertificateValidation||ds=false|ign=false|dane=Opportunistic|sts=|line=4",
		"Encrypt only|[tailspin.example wingtip.example]|[]|dns=true|smart=[]|req=true|EncryptionOnly||ds=false|ign=false|dane=|sts=|line=5",
		"Scoped by transport rule|[]|[]|dns=true|smart=[]|req=false|||ds=false|ign=false|dane=None|sts=None|line=6",
	}
	for _, file := range []string{"testdata/outbound-connectors.csv", "testdata/outbound-connectors-utf16le.csv"} {
		t.Run(file, func(t *testing.T) {
			kind, rules, errs, err := exchange.ReadConnectorsFile(file)
			if err != nil || len(errs) > 0 || kind != exchange.OutboundConnectors {
				t.Fatal(kind, err, errs)
			}
			if len(rules) != len(want) {
				t.Fatalf("%d connectors", len(rules))
			}
			for i, r := range rules {
				if got := rule(r); got != want[i] || !r.Online {
					t.Errorf("connector %d\n got %s\nwant %s", i, got, want[i])
				}
			}
		})
	}
}

func TestReadOutboundConnectorsErrors(t *testing.T) {
	text := "\"Name\",\"RecipientDomains\",\"UseMXRecord\",\"SmartHosts\",\"TlsSettings\",\"TlsDomain\",\"SmtpDaneMode\"\n" +
		"\"A\",\"a.example\",\"True\",\"\",\"DomainValidation\",\"\",\"\"\n" +
		"\"B\",\"b.example\",\"False\",\"\",\"\",\"\",\"\"\n" +
		"\"C\",\"c.example\",\"True\",\"\",\"\",\"\",\"Sometimes\"\n" +
		"\"D\",\"System.Object[]\",\"True\",\"\",\"\",\"\",\"\"\n"
	_, rules, errs, err := exchange.ReadConnectors(strings.NewReader(text), "out.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`out.csv:2: column "TlsDomain": TlsSettings DomainValidation needs a TlsDomain`,
		`out.csv:3: column "SmartHosts": UseMXRecord is False but no smart host is given`,
		`out.csv:4: column "SmtpDaneMode": "Sometimes" is not a valid SmtpDaneMode`,
		`out.csv:5: column "RecipientDomains": the cell holds the type name "System.Object[]"`,
	}
	if len(errs) != len(want) || len(rules) != 0 {
		t.Fatalf("errors %v rules %v", errs, rules)
	}
	for i, w := range want {
		if !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("got %s\nwant %s", errs[i], w)
		}
	}
}

func TestReadConnectorsUnusable(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"empty", "", "x.csv:1: empty export"},
		{"only #TYPE", "#TYPE Foo\r\n", "x.csv:1: empty export"},
		{"not a connector export", "\"Name\",\"Identity\"\n\"a\",\"b\"\n", "neither a Get-SendConnector export"},
		{"no Name", "\"AddressSpaces\"\n\"SMTP:*;1\"\n", `column "Name": required column is missing`},
		{"duplicate column", "\"Name\",\"AddressSpaces\",\"name\"\n", `x.csv:1: column "name": duplicate column`},
		{"bare quote", "\"Name\",\"AddressSpaces\"\n\"a\"b,\"c\"\n", "x.csv:2: "},
		{"latin-1", "\"Name\",\"AddressSpaces\"\n\"M\xfcller\",\"SMTP:*;1\"\n", "x.csv:2: not UTF-8 or UTF-16 text"},
		{"odd UTF-16", "\xff\xfeN\x00a", "UTF-16 text with an odd number of bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := exchange.ReadConnectors(strings.NewReader(tc.text), "x.csv")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReadDomainSecureList(t *testing.T) {
	cases := []struct {
		file string
		want string
		errs []string
	}{
		{"testdata/domain-secure-table-utf16le.txt", "[mueller.example partner.example]", nil},
		{"testdata/domain-secure.txt", "[mueller.example partner.example contoso.com]", []string{`testdata/domain-secure.txt:3: column "domain": "*.wild.example": wildcards are not allowed here`}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			got, errs, err := exchange.ReadDomainSecureListFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != tc.want {
				t.Errorf("got %v, want %s", got, tc.want)
			}
			var es []string
			for _, e := range errs {
				es = append(es, e.Error())
			}
			if fmt.Sprint(es) != fmt.Sprint(tc.errs) {
				t.Errorf("errors %q, want %q", es, tc.errs)
			}
		})
	}
}

func TestDecodeText(t *testing.T) {
	utf16be := []byte{0xFE, 0xFF, 0, 'a', 0, '\r', 0, '\n', 0, 'b'}
	noBOM16 := []byte{'a', 0, '\n', 0, 'b', 0}
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"UTF-16 BE with BOM", utf16be, "a\nb"},
		{"UTF-16 LE without BOM", noBOM16, "a\nb"},
		{"UTF-8 BOM", []byte("\xEF\xBB\xBFa\r\nb"), "a\nb"},
		{"plain", []byte("a\nb"), "a\nb"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := exchange.DecodeText(tc.in, "f")
			if err != nil || got != tc.want {
				t.Errorf("%q, %v", got, err)
			}
		})
	}
}

func FuzzReadConnectors(f *testing.F) {
	for _, p := range []string{"send-connectors-utf8bom.csv", "send-connectors-utf16le.csv", "send-connectors-bad.csv", "outbound-connectors.csv", "outbound-connectors-utf16le.csv", "send-connectors-semicolon.csv"} {
		data, err := os.ReadFile("testdata/" + p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, rules, errs, err := exchange.ReadConnectors(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.csv:") {
				t.Errorf("error without place: %v", err)
			}
			return
		}
		for _, e := range errs {
			if e.File != "fuzz.csv" || e.Line < 1 || e.Column == "" {
				t.Errorf("bad error %+v", e)
			}
		}
		for _, r := range rules {
			if r.Line < 2 || r.File != "fuzz.csv" {
				t.Errorf("bad rule %+v", r)
			}
		}
	})
}

func FuzzReadDomainSecureList(f *testing.F) {
	for _, p := range []string{"domain-secure.txt", "domain-secure-table-utf16le.txt"} {
		data, err := os.ReadFile("testdata/" + p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, errs, err := exchange.ReadDomainSecureList(bytes.NewReader(data), "list.txt")
		if err != nil {
			return
		}
		for _, d := range ds {
			if strings.ContainsAny(d, "* \t\n") {
				t.Errorf("bad domain %q", d)
			}
		}
		for _, e := range errs {
			if e.Line < 1 {
				t.Errorf("bad error %+v", e)
			}
		}
	})
}
