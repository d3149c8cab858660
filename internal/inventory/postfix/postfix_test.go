package postfix_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/inventory/postfix"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
)

func TestReadPolicyMap(t *testing.T) {
	m, errs, err := postfix.ReadPolicyMapFile("testdata/tls_policy")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("unexpected: %v", e)
	}
	cases := []struct {
		key   string
		line  int
		level mtapolicy.Level
		value string // the entry written back
	}{
		{"fax.example.net", 7, mtapolicy.LevelNone, "none"},
		{"example.org", 10, mtapolicy.LevelMay, "may protocols=>=TLSv1.2 ciphers=medium"},
		{"selfsigned.example", 13, mtapolicy.LevelEncrypt, "encrypt protocols=!SSLv2:!SSLv3:!TLSv1:!TLSv1.1 exclude=3DES:RC4"},
		{"dane.example", 18, mtapolicy.LevelDane, "dane"},
		{"bank.example", 19, mtapolicy.LevelDaneOnly, "dane-only protocols=TLSv1.2:TLSv1.3"},
		{"[mx.pinned.example]:25", 22, mtapolicy.LevelFingerprint, "fingerprint match=9B:6E:4F:07:0F:47:D6:6F:31:9C:A6:A3:C7:0A:62:0D:1A:44:3E:5C:6E:8B:E1:49:4C:06:F8:0B:98:7C:2E:20|1f7c2a94d1b3e6f0a85c7d2e9b4f6a1c3e5d7b9f0a2c4e6b8d0f1a3c5e7b9d0f|C0:FF:EE:00:11:22:33:44:55:66:77:88:99:AA:BB:CC"},
		{"contoso.example", 27, mtapolicy.LevelVerify, "verify match=hostname"},
		{"fabrikam.example", 30, mtapolicy.LevelSecure, "secure match=nexthop:dot-nexthop:.mail.protection.outlook.com"},
		{".fabrikam.example", 31, mtapolicy.LevelSecure, "secure match=.fabrikam.example:fabrikam.example"},
		{"partner.example", 34, mtapolicy.LevelSecure, "secure match=nexthop tafile=/etc/postfix/ta/partner-issuing-ca.pem tafile=/etc/postfix/ta/partner-issuing-ca-2025.pem ciphers=high"},
		{"[relay.example.com]:587", 41, mtapolicy.LevelSecure, "secure match=nexthop servername=hostname connection_reuse=yes"},
		{"[smarthost.example.net]", 42, mtapolicy.LevelVerify, "verify match=hostname:nexthop enable_rpk=no"},
	}
	if len(m.Entries) != len(cases) {
		t.Errorf("%d entries, want %d", len(m.Entries), len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			p, ok := m.Lookup(tc.key)
			if !ok {
				t.Fatalf("no entry")
			}
			if p.Line != tc.line || p.Level != tc.level || p.String() != tc.value || p.Invalid != "" || p.File != "testdata/tls_policy" {
				t.Errorf("line %d level %s %q invalid %q; want line %d level %s %q", p.Line, p.Level, p.String(), p.Invalid, tc.line, tc.level, tc.value)
			}
		})
	}
	if p, _ := m.Lookup("mail.fabrikam.example"); p.Key != ".fabrikam.example" {
		t.Errorf("a subdomain finds %q", p.Key)
	}
}

func TestReadPolicyMapErrors(t *testing.T) {
	m, errs, err := postfix.ReadPolicyMapFile("testdata/tls_policy.bad")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line    int
		column  string
		message string
	}{
		{1, "", `logical line must not start with whitespace: "orphan.example encrypt"`},
		{2, "key", `the policy table has no wildcards; use ".wild.example"`},
		{3, "", `expected format: key whitespace value ("noval.example" has no value)`},
		{4, "level", `invalid security level "Secure": Postfix defers mail for badlevel.example`},
		{5, "match", `attribute "match" invalid at security level "encrypt"`},
		{6, "tafile", `attribute "tafile" invalid at security level "encrypt"`},
		{7, "value", `malformed attribute/value pair "#": missing '='`},
		{9, "key", `duplicate entry "DUP.example": postmap keeps the first one`},
		{10, "foo", `invalid attribute name: "foo"`},
		{11, "protocols", `attribute "protocols" is specified multiple times`},
		{12, "protocols", `invalid TLS protocol name "TLSv9"`},
		{13, "value", `ignoring attribute "protocols=TLSv1.2" with TLS disabled`},
		{14, "value", `missing '}'`},
		{15, "match", `fingerprint "XY:ZZ" is not hexadecimal`},
		{17, "key", `after ']' only :port may follow`},
		{18, "key", `not by address`},
	}
	if len(errs) != len(want) {
		for _, e := range errs {
			t.Log(e)
		}
		t.Fatalf("%d errors, want %d", len(errs), len(want))
	}
	for i, w := range want {
		e := errs[i]
		if e.File != "testdata/tls_policy.bad" || e.Line != w.line || e.Column != w.column || !strings.Contains(e.Message, w.message) {
			t.Errorf("error %d = %v; want line %d column %q %q", i, e, w.line, w.column, w.message)
		}
	}
	// Entries Postfix stores but refuses at delivery are kept, marked invalid.
	for key, valid := range map[string]bool{"badlevel.example": false, "comment.example": false, "dup.example": true, "none.example": true, "ok.example": true, "noval.example": false} {
		p, ok := m.Lookup(key)
		if key == "noval.example" {
			if ok {
				t.Errorf("%s: a line without value was kept", key)
			}
			continue
		}
		if !ok || (p.Invalid == "") != valid {
			t.Errorf("%s: found %v, invalid %q", key, ok, p.Invalid)
		}
	}
	if p, _ := m.Lookup("dup.example"); p.Level != mtapolicy.LevelMay {
		t.Errorf("duplicate: the first entry must win, got %s", p.Level)
	}
}

func TestLogicalLines(t *testing.T) {
	cases := []struct {
		name, text string
		want       map[string]string // key -> value written back
		errs       int
	}{
		{"CRLF and BOM", "\xEF\xBB\xBFa.example encrypt\r\n  protocols=TLSv1.2\r\n", map[string]string{"a.example": "encrypt protocols=TLSv1.2"}, 0},
		{"indented comment inside a continuation", "a.example secure\n  # why\n  match=nexthop\nb.example may\n", map[string]string{"a.example": "secure match=nexthop", "b.example": "may"}, 0},
		{"blank lines end nothing", "a.example secure\n\n\tmatch=nexthop\n", map[string]string{"a.example": "secure match=nexthop"}, 0},
		{"no final newline", "a.example may", map[string]string{"a.example": "may"}, 0},
		{"NUL byte", "a.example may\x00 junk\n", map[string]string{"a.example": "may"}, 1},
		{"commas separate attributes", "a.example verify,match=hostname,,ciphers=high", map[string]string{"a.example": "verify match=hostname ciphers=high"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, errs, err := postfix.ReadPolicyMap(strings.NewReader(tc.text), "p")
			if err != nil {
				t.Fatal(err)
			}
			if len(errs) != tc.errs {
				t.Errorf("errors %v, want %d", errs, tc.errs)
			}
			for k, v := range tc.want {
				if p, ok := m.Lookup(k); !ok || p.String() != v {
					t.Errorf("%s = %q, want %q", k, p.String(), v)
				}
			}
		})
	}
}

func TestReadPolicyMapTooLong(t *testing.T) {
	long := "a.example verify\n" + strings.Repeat(" match=x", postfix.MaxLogicalLine/8+1) + "\nb.example may\n"
	m, errs, err := postfix.ReadPolicyMap(strings.NewReader(long), "p")
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || errs[0].Line != 1 || !strings.Contains(errs[0].Message, "longer than") {
		t.Errorf("errors %v", errs)
	}
	if _, ok := m.Lookup("b.example"); !ok {
		t.Error("the line after a too long one was lost")
	}
	_, _, err = postfix.ReadPolicyMap(strings.NewReader(strings.Repeat("x", postfix.MaxFileSize+1)), "big")
	if err == nil || !strings.Contains(err.Error(), "big:1: file is larger") {
		t.Errorf("err = %v", err)
	}
}

func TestMainCF(t *testing.T) {
	m, errs, err := postfix.ReadMainCFFile("testdata/main.cf")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("unexpected: %v", e)
	}
	c, cerrs := m.Config()
	for _, e := range cerrs {
		t.Errorf("unexpected: %v", e)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"level", c.SecurityLevel, mtapolicy.LevelMay},
		{"CAfile ($tls_dir, ${config_directory})", c.CAfile, "/etc/postfix/tls/ca-bundle.pem"},
		{"CApath", c.CApath, "/etc/ssl/certs"},
		{"secure match across a comment", fmt.Sprint(c.SecureCertMatch), "[nexthop dot-nexthop]"},
		{"verify match", fmt.Sprint(c.VerifyCertMatch), "[hostname]"},
		{"digest ${fp_digest:sha256}", c.FingerprintDigest, "sha256"},
		{"mandatory protocols", c.MandatoryProtocols, ">=TLSv1.2"},
		{"protocols via $name", c.Protocols, ">=TLSv1.2"},
		{"queue lifetime", c.QueueLifetime, 3 * 24 * time.Hour},
		{"dns support", c.DNSSupportLevel, "dnssec"},
		{"policy maps", fmt.Sprint(c.PolicyMaps), "[hash:/etc/postfix/tls_policy socketmap:inet:127.0.0.1:8642:QUERY]"},
		{"empty trust anchors", len(c.TrustAnchorFiles), 0},
		{"where", c.MainCF, "testdata/main.cf"},
		{"banner line", m.Lines["smtpd_banner"], 3},
		{"policy maps line", m.Lines["smtp_tls_policy_maps"], 23},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if v, _, undef := m.Lookup("smtpd_banner"); v != "mx1.corp.example ESMTP  (Debian/GNU)" || fmt.Sprint(undef) != "[mail_name]" {
		t.Errorf("banner %q, undefined %v", v, undef)
	}
}

func TestMainCFDefaults(t *testing.T) {
	cases := []struct {
		name   string
		text   string
		level  mtapolicy.Level
		digest string
		errs   []string
	}{
		{"empty main.cf: compatibility level 0, md5", "", mtapolicy.LevelNone, "md5", nil},
		{"legacy smtp_use_tls", "smtp_use_tls = yes\n", mtapolicy.LevelMay, "md5", nil},
		{"legacy smtp_enforce_tls", "smtp_enforce_tls = yes\ncompatibility_level = 3.11\n", mtapolicy.LevelVerify, "sha256", nil},
		{"legacy enforce without peername", "smtp_enforce_tls = yes\nsmtp_tls_enforce_peername = no\n", mtapolicy.LevelEncrypt, "md5", nil},
		{"compatibility 2 keeps md5", "compatibility_level = 2\nsmtp_tls_security_level = dane\n", mtapolicy.LevelDane, "md5", nil},
		{"bad values are reported with their line", "compatibility_level = 3.6\n\nsmtp_tls_security_level = paranoid\nmaximal_queue_lifetime = 5x\nsmtp_tls_mandatory_protocols = TLSv2\nsmtp_tls_CAfile = $nowhere/ca.pem\n",
			mtapolicy.LevelNone, "sha256", []string{
				`main.cf:3: column "smtp_tls_security_level": invalid security level "paranoid" (want one of none, may, encrypt, dane, dane-only, fingerprint, verify, secure)`,
				`main.cf:4: column "maximal_queue_lifetime": bad time unit "x" (want s, m, h, d or w)`,
				`main.cf:5: column "smtp_tls_mandatory_protocols": invalid TLS protocol name "TLSv2"`,
				`main.cf:6: column "smtp_tls_CAfile": undefined parameter $nowhere expands to nothing`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, errs, err := postfix.ReadMainCF(strings.NewReader(tc.text), "main.cf")
			if err != nil || len(errs) > 0 {
				t.Fatal(err, errs)
			}
			c, cerrs := m.Config()
			if c.SecurityLevel != tc.level || c.FingerprintDigest != tc.digest {
				t.Errorf("level %s digest %s, want %s %s", c.SecurityLevel, c.FingerprintDigest, tc.level, tc.digest)
			}
			var got []string
			for _, e := range cerrs {
				got = append(got, e.Error())
			}
			sortStrings(got)
			if fmt.Sprint(got) != fmt.Sprint(tc.errs) {
				t.Errorf("errors\n%q\nwant\n%q", got, tc.errs)
			}
		})
	}
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func TestMainCFSyntax(t *testing.T) {
	text := "a = 1\nno equals sign here\n  continued = ?\nno equals at all\nb = ${a?set}${zz?x}${zz:unset}$$literal $(a)\nc = $c\n"
	m, errs, err := postfix.ReadMainCF(strings.NewReader(text), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 2 || errs[0] != (audit.InventoryError{File: "main.cf", Line: 2, Message: `bad parameter name "no equals sign here  continued"`}) ||
		errs[1] != (audit.InventoryError{File: "main.cf", Line: 4, Message: `missing '=' after parameter name: "no equals at all"`}) {
		t.Errorf("errors %v", errs)
	}
	if v, _, _ := m.Lookup("b"); v != "setunset$literal 1" {
		t.Errorf("b = %q", v)
	}
	if _, _, undef := m.Lookup("c"); len(undef) == 0 {
		t.Error("a self-reference expands without end and is not reported")
	}
}

func TestMainCFExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("smtp_tls_CAfile = $p0\n")
	for i := range 40 {
		fmt.Fprintf(&b, "p%d = $p%d$p%d$p%d$p%d\n", i, i+1, i+1, i+1, i+1)
	}
	b.WriteString("p40 = x\n")
	m, _, err := postfix.ReadMainCF(strings.NewReader(b.String()), "main.cf")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, errs := m.Config()
	if time.Since(start) > 5*time.Second {
		t.Errorf("expansion took %s", time.Since(start))
	}
	if c.CAfile != "" || len(errs) != 1 || !strings.Contains(errs[0].Error(), `main.cf:1: column "smtp_tls_CAfile": cannot expand: expansion longer than`) {
		t.Errorf("CAfile %d bytes, errors %v", len(c.CAfile), errs)
	}
}

func FuzzReadPolicyMap(f *testing.F) {
	for _, p := range []string{"testdata/tls_policy", "testdata/tls_policy.bad"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a verify { match = x } {"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, errs, err := postfix.ReadPolicyMap(strings.NewReader(string(data)), "fuzz")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, e := range errs {
			if e.File != "fuzz" || e.Line < 1 || e.Line > lines || e.Message == "" {
				t.Errorf("bad error %+v (%d lines)", e, lines)
			}
		}
		for _, p := range m.Entries {
			if p.Line < 1 || p.Line > lines || p.Key == "" {
				t.Errorf("bad entry %+v", p)
			}
			if _, ok := m.Lookup(p.Key); !ok {
				t.Errorf("entry %q not found by its own key", p.Key)
			}
		}
	})
}

func FuzzReadMainCF(f *testing.F) {
	data, err := os.ReadFile("testdata/main.cf")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("a = ${b\nb = $(a)$$\nsmtp_tls_security_level = ${a?${b:{x}}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _, err := postfix.ReadMainCF(strings.NewReader(string(data)), "main.cf")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(string(data), "\n") + 1
		_, errs := m.Config()
		for _, e := range errs {
			if e.Line < 0 || e.Line > lines {
				t.Errorf("bad error %+v", e)
			}
		}
	})
}
