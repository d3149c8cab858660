package dn

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/internal/fleet"
)

var contoso = Name{{"CN", "mail.contoso.com"}, {"OU", "IT"}, {"O", "Contoso"}, {"L", "Redmond"}, {"ST", "WA"}, {"C", "US"}}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Name
	}{
		{"windows", "CN=mail.contoso.com, OU=IT, O=Contoso, L=Redmond, S=WA, C=US", contoso},
		{"go pkix String", "CN=mail.contoso.com,OU=IT,O=Contoso,L=Redmond,ST=WA,C=US", contoso},
		{"openssl slash", "/C=US/ST=WA/L=Redmond/O=Contoso/OU=IT/CN=mail.contoso.com", contoso},
		{"openssl oneline", "CN = mail.contoso.com, OU = IT, O = Contoso, L = Redmond, ST = WA, C = US", contoso},
		{"openssl subject= prefix", "subject=C = US, O = y, CN = x", Name{{"C", "US"}, {"O", "y"}, {"CN", "x"}}},
		{"openssl -text Subject:", "Subject: CN = x, O = y", Name{{"CN", "x"}, {"O", "y"}}},
		{"long names", "commonName=x, organizationName=y, stateOrProvinceName=WA, countryName=US", Name{{"CN", "x"}, {"O", "y"}, {"ST", "WA"}, {"C", "US"}}},
		{"lower-case types", "cn=x, o=y, s=WA", Name{{"CN", "x"}, {"O", "y"}, {"ST", "WA"}}},
		{"quoted comma", `CN=x, O="Foo, Inc.", C=US`, Name{{"CN", "x"}, {"O", "Foo, Inc."}, {"C", "US"}}},
		{"quoted with spaces around", `CN=x,  O = "Foo, Inc."  , C=US`, Name{{"CN", "x"}, {"O", "Foo, Inc."}, {"C", "US"}}},
		{"windows doubled quote", `O="Say ""hi"""`, Name{{"O", `Say "hi"`}}},
		{"quoted backslash literal", `CN="DOMAIN\user"`, Name{{"CN", `DOMAIN\user`}}},
		{"escaped comma", `CN=x,O=Foo\, Inc.,C=US`, Name{{"CN", "x"}, {"O", "Foo, Inc."}, {"C", "US"}}},
		{"escaped plus and quote", `O=A\+B \"C\"`, Name{{"O", `A+B "C"`}}},
		{"hex escape utf-8", `CN=caf\C3\A9`, Name{{"CN", "café"}}},
		{"escaped trailing space kept", `CN=x\ ,O=y`, Name{{"CN", "x "}, {"O", "y"}}},
		{"unescaped backslash literal", `CN=DOMAIN\user`, Name{{"CN", `DOMAIN\user`}}},
		{"extra spaces", "  CN =  mail  ,   O=  y  ", Name{{"CN", "mail"}, {"O", "y"}}},
		{"semicolons", "CN=x; O=y", Name{{"CN", "x"}, {"O", "y"}}},
		{"multi-valued rdn", "CN=a+UID=b, O=y", Name{{"CN", "a"}, {"UID", "b"}, {"O", "y"}}},
		{"windows email", "E=pki@contoso.com, CN=x", Name{{"E", "pki@contoso.com"}, {"CN", "x"}}},
		{"emailAddress", "emailAddress=pki@contoso.com, CN=x", Name{{"E", "pki@contoso.com"}, {"CN", "x"}}},
		{"go hex email", "CN=x,1.2.840.113549.1.9.1=#160f706b6940636f6e746f736f2e636f6d", Name{{"CN", "x"}, {"E", "pki@contoso.com"}}},
		{"go hex non-string kept", "1.2.3.4=#020105", Name{{"1.2.3.4", "#020105"}}},
		{"literal hash", "OU=#1 Team", Name{{"OU", "#1 Team"}}},
		{"windows OID form", "OID.2.5.4.97=VATDE-123, OID.1.3.6.1.4.1.311.60.2.1.3=US, OID.1.2.3.4=z", Name{{"ORGANIZATIONIDENTIFIER", "VATDE-123"}, {"JURISDICTIONC", "US"}, {"1.2.3.4", "z"}}},
		{"dotted known OID", "2.5.4.3=x", Name{{"CN", "x"}}},
		{"dc", "CN=Contoso Issuing CA, DC=contoso, DC=com", Name{{"CN", "Contoso Issuing CA"}, {"DC", "contoso"}, {"DC", "com"}}},
		{"slash with slash in value", "/O=A/B Corp/CN=x", Name{{"CN", "x"}, {"O", "A/B Corp"}}},
		{"slash escaped slash", `/O=A\/B/CN=x`, Name{{"CN", "x"}, {"O", "A/B"}}},
		{"slash commas are values", "/C=US/O=Foo, Inc./CN=x", Name{{"CN", "x"}, {"O", "Foo, Inc."}, {"C", "US"}}},
		{"slash multi-valued", "/O=y/CN=a+UID=b", Name{{"UID", "b"}, {"CN", "a"}, {"O", "y"}}},
		{"empty quoted value", `CN=""`, Name{{"CN", ""}}},
		{"equals in value", "CN=a=b", Name{{"CN", "a=b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, wantMsg string
		wantOffset        int
	}{
		{"empty", "", "empty distinguished name", 0},
		{"blank", "   ", "empty distinguished name", 3},
		{"prefix only", "subject=", "empty distinguished name", 8},
		{"unquoted comma", "CN=x, O=Foo, Inc.", `"Inc." is not TYPE=value`, 12},
		{"trailing comma", "CN=x,", "nothing after", 4},
		{"no equals", "CN", `"CN" is not TYPE=value`, 0},
		{"missing type", "=x", "missing attribute type", 0},
		{"bad type", "C N=x", `"C N" is not an attribute type`, 0},
		{"unterminated quote", `CN=x, O="Foo`, "unterminated quoted value", 8},
		{"text after quote", `O="Foo" Inc`, `unexpected 'I' after quoted value`, 8},
		{"empty between separators", "CN=x,,O=y", "expected TYPE=value", 5},
		{"slash bad type", "/C N=x", `"C N" is not an attribute type`, 1},
		{"pin-like", "<I>CN=x", `"<I>CN" is not an attribute type`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error = %v, want *SyntaxError", tt.in, err)
			}
			if !strings.Contains(se.Msg, tt.wantMsg) || se.Offset != tt.wantOffset {
				t.Fatalf("Parse(%q) = %q at %d, want %q at %d", tt.in, se.Msg, se.Offset, tt.wantMsg, tt.wantOffset)
			}
			if se.Input != tt.in || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.in)) {
				t.Errorf("error %q does not quote the input", err)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"windows vs go", "CN=mail.contoso.com, OU=IT, O=Contoso, L=Redmond, S=WA, C=US", "CN=mail.contoso.com,OU=IT,O=Contoso,L=Redmond,ST=WA,C=US", true},
		{"windows vs openssl slash", "CN=x, O=y, C=US", "/C=US/O=y/CN=x", true},
		{"windows vs openssl oneline", "CN=x, O=y, C=US", "C = US, O = y, CN = x", true},
		{"email spellings", "E=a@b.example, CN=x", "CN=x,1.2.840.113549.1.9.1=#160b6140622e6578616d706c65", true},
		{"value case", "CN=Mail.Contoso.COM", "CN=mail.contoso.com", true},
		{"quoted vs escaped", `O="Foo, Inc."`, `O=Foo\, Inc.`, true},
		{"quoted surrounding space trimmed", `O=" Foo "`, `O=Foo`, true},
		{"different value", "CN=x, O=y", "CN=x, O=z", false},
		{"different type", "CN=x, O=y", "CN=x, OU=y", false},
		{"extra attribute", "CN=x, O=y", "CN=x, O=y, C=US", false},
		{"multiset counts", "OU=a, OU=a, OU=b", "OU=a, OU=b, OU=b", false},
		{"repeated DC order", "DC=com, DC=contoso, CN=ca", "CN=ca, DC=contoso, DC=com", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Parse(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := Match(a, b); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if got := Match(b, a); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v (not symmetric)", tt.b, tt.a, got, tt.want)
			}
		})
	}
	if !Match(Name{{"S", "WA"}}, Name{{"ST", "wa"}}) {
		t.Error("hand-built Name with alias type S does not match ST")
	}
}

var (
	oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidDC    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
)

// testCert issues a self-signed certificate with the given subject (its issuer
// too) and returns the parsed certificate.
func testCert(t *testing.T, subject pkix.Name) *x509.Certificate {
	t.Helper()
	is, err := fleet.SelfSigned(fleet.CertSpec{Subject: subject,
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return is.Cert
}

var richSubject = pkix.Name{
	Country:            []string{"US"},
	Province:           []string{"WA"},
	Locality:           []string{"Redmond"},
	Organization:       []string{"Foo, Inc."},
	OrganizationalUnit: []string{"IT", `Say "hi"`},
	CommonName:         "mail.contoso.com",
	SerialNumber:       "42",
	ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: oidEmail, Value: "pki@contoso.com"},
		{Type: oidDC, Value: "contoso"},
		{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: "custom"},
	},
}

func TestWindows(t *testing.T) {
	c := testCert(t, richSubject)
	want := `OID.1.2.3.4=custom, DC=contoso, E=pki@contoso.com, SERIALNUMBER=42, CN=mail.contoso.com, OU="Say ""hi""", OU=IT, O="Foo, Inc.", L=Redmond, S=WA, C=US`
	if got := Windows(c.Subject); got != want {
		t.Errorf("Windows(subject) =\n %s\nwant\n %s", got, want)
	}
	// The hand-built template (no Names) gives the same attributes.
	if !Match(FromPKIX(richSubject), FromPKIX(c.Subject)) {
		t.Errorf("FromPKIX(template) = %v, FromPKIX(parsed) = %v", FromPKIX(richSubject), FromPKIX(c.Subject))
	}
	if got, want := TLSCertificateName(pkix.Name{CommonName: "Contoso CA", Organization: []string{"Contoso"}}, pkix.Name{CommonName: "mail.contoso.com"}),
		"<I>CN=Contoso CA, O=Contoso<S>CN=mail.contoso.com"; got != want {
		t.Errorf("TLSCertificateName = %q, want %q", got, want)
	}
}

// TestRoundTrip checks that every printed form of a certificate's name parses
// back to the same attributes.
func TestRoundTrip(t *testing.T) {
	subjects := map[string]pkix.Name{
		"rich":   richSubject,
		"cn":     {CommonName: "mx1.example.net"},
		"spaces": {CommonName: " padded ", Organization: []string{"a+b=c;d<e>#f"}},
		"utf8":   {CommonName: "Müller GmbH – Zürich", Country: []string{"CH"}},
	}
	for name, subj := range subjects {
		c := testCert(t, subj)
		want := FromPKIX(c.Subject)
		forms := map[string]string{
			"windows":  Windows(c.Subject),
			"go":       c.Subject.String(),
			"string()": want.String(),
		}
		for form, s := range forms {
			t.Run(name+"/"+form, func(t *testing.T) {
				got, err := Parse(s)
				if err != nil {
					t.Fatalf("Parse(%q): %v", s, err)
				}
				if !Match(got, want) {
					t.Fatalf("Parse(%q) = %v, want %v", s, got, want)
				}
			})
		}
	}
}

// TestOpenSSLForms parses names as the openssl command prints them, when it is installed.
func TestOpenSSLForms(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	c := testCert(t, richSubject)
	path := filepath.Join(t.TempDir(), "c.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	want := FromPKIX(c.Subject)
	for _, nameopt := range []string{"oneline", "RFC2253", "compat"} {
		t.Run(nameopt, func(t *testing.T) {
			out, err := exec.Command("openssl", "x509", "-in", path, "-noout", "-subject", "-nameopt", nameopt).Output()
			if err != nil {
				t.Fatal(err)
			}
			s := strings.TrimSpace(string(out))
			got, err := Parse(s)
			if err != nil {
				t.Fatalf("Parse(%q): %v", s, err)
			}
			if !Match(got, want) {
				t.Fatalf("Parse(%q) = %v, want %v", s, got, want)
			}
		})
	}
}

func TestParsePin(t *testing.T) {
	tests := []struct {
		name          string
		in            string
		issuer, subj  Name
		wantErrSubstr string
	}{
		{"both", "<I>CN=Contoso CA, DC=contoso, DC=com<S>CN=mail.contoso.com", Name{{"CN", "Contoso CA"}, {"DC", "contoso"}, {"DC", "com"}}, Name{{"CN", "mail.contoso.com"}}, ""},
		{"lower-case markers", "<i>CN=ca<s>CN=x", Name{{"CN", "ca"}}, Name{{"CN", "x"}}, ""},
		{"subject only", "<S>CN=x, O=y", nil, Name{{"CN", "x"}, {"O", "y"}}, ""},
		{"issuer only", "<I>CN=ca", Name{{"CN", "ca"}}, nil, ""},
		{"empty issuer", "<I><S>CN=x", nil, Name{{"CN", "x"}}, ""},
		{"quoted <S> inside issuer", `<I>O="a<S>b"<S>CN=x`, Name{{"O", "a<S>b"}}, Name{{"CN", "x"}}, ""},
		{"not a pin", "CN=x", nil, nil, "must start with"},
		{"both empty", "<I><S>", nil, nil, "both issuer and subject are empty"},
		{"bad subject", "<I>CN=ca<S>garbage", nil, nil, "subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is, ss, err := ParsePin(tt.in)
			if tt.wantErrSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) {
					t.Fatalf("ParsePin(%q) error = %v, want %q", tt.in, err, tt.wantErrSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(is, tt.issuer) || !reflect.DeepEqual(ss, tt.subj) {
				t.Fatalf("ParsePin(%q) = %#v, %#v", tt.in, is, ss)
			}
			if !IsPin(tt.in) {
				t.Errorf("IsPin(%q) = false", tt.in)
			}
		})
	}
	// A pin made by TLSCertificateName parses back.
	ca, leaf := testCert(t, pkix.Name{CommonName: "Contoso CA", Organization: []string{"Foo, Inc."}}), testCert(t, richSubject)
	is, ss, err := ParsePin(TLSCertificateName(ca.Subject, leaf.Subject))
	if err != nil || !Match(is, FromPKIX(ca.Subject)) || !Match(ss, FromPKIX(leaf.Subject)) {
		t.Fatalf("ParsePin(TLSCertificateName(...)) = %v, %v, %v", is, ss, err)
	}
}

func TestCanonicalType(t *testing.T) {
	for in, want := range map[string]string{
		"S": "ST", "st": "ST", "EMAIL": "E", "emailAddress": "E", "OID.2.5.4.5": "SERIALNUMBER",
		"2.5.4.8": "ST", "1.2.3": "1.2.3", "oid.1.2.3": "1.2.3", "x-custom": "X-CUSTOM", "G": "GN", "T": "TITLE",
	} {
		if got, ok := CanonicalType(in); !ok || got != want {
			t.Errorf("CanonicalType(%q) = %q, %v, want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "1", "1..2", "01.2", "a b", "9x", "<I>CN"} {
		if got, ok := CanonicalType(bad); ok {
			t.Errorf("CanonicalType(%q) = %q, want invalid", bad, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"CN=mail.contoso.com, OU=IT, O=Contoso, L=Redmond, S=WA, C=US",
		"CN=x,O=Foo\\, Inc.,C=US", "/C=US/O=A/B/CN=x+UID=y", "C = US, O = y, CN = x",
		`O="Say ""hi"""`, "CN=x,1.2.840.113549.1.9.1=#160f706b6940636f6e746f736f2e636f6d",
		`CN=caf\C3\A9\ `, "subject=CN=x", "<I>CN=a<S>CN=b", "OID.1.2.3=#0500", "CN=\"", "/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		_, _, _ = ParsePin(s)
		if err != nil {
			return
		}
		if len(n) == 0 {
			t.Fatalf("Parse(%q) returned an empty Name without error", s)
		}
		// What String prints must parse back to the same attributes.
		again, err := Parse(n.String())
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, n.String(), err)
		}
		if !Match(n, again) {
			t.Fatalf("round trip of %q: %v != %v", s, n, again)
		}
	})
}
