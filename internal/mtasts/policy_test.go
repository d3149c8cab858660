package mtasts

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		mode     Mode
		mx       []string
		maxAge   int64
		warnings []string
		err      string // substring of the error; "" means valid
	}{
		{"RFC 8461 example", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			Enforce, []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, 604800, nil, ""},
		{"LF only, no final newline", "version: STSv1\nmode: testing\nmx: MX1.Example.COM.\nmax_age: 86400",
			Testing, []string{"mx1.example.com"}, 86400, nil, ""},
		{"mode none needs no mx", "version: STSv1\nmode: none\nmax_age: 0\n", None, nil, 0, nil, ""},
		{"extensions and blank lines are ignored", "version: STSv1\n\nmode: enforce\nfoo_bar.1: some value here\nmx: mx.example.com\nmax_age:\t86400\n",
			Enforce, []string{"mx.example.com"}, 86400, nil, ""},
		{"max_age above the maximum is capped, with a warning", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 9999999999\n",
			Enforce, []string{"mx.example.com"}, 9999999999, []string{"above the RFC 8461 maximum"}, ""},
		{"a repeated field: the first counts", "version: STSv1\nmode: testing\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n",
			Testing, []string{"mx.example.com"}, 86400, []string{`line 3: field "mode" repeats line 2`}, ""},
		{"wrong version", "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "", nil, 0, nil, `policy line 1: field "version": "STSv2", want STSv1`},
		{"unknown mode", "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", "", nil, 0, nil, `policy line 2: field "mode": "Enforce"`},
		{"max_age not a number", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1d\n", "", nil, 0, nil, `policy line 4: field "max_age"`},
		{"max_age 11 digits", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 10000000000\n", "", nil, 0, nil, "not 1 to 10 digits"},
		{"negative max_age", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", "", nil, 0, nil, "not 1 to 10 digits"},
		{"no max_age", "version: STSv1\nmode: enforce\nmx: a.example\n", "", nil, 0, nil, `no "max_age" field`},
		{"no version", "mode: enforce\nmx: a.example\nmax_age: 1\n", "", nil, 0, nil, `no "version" field`},
		{"enforce without mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", "", nil, 0, nil, `no "mx" field in mode enforce`},
		{"wildcard in the middle", "version: STSv1\nmode: enforce\nmx: mx.*.example.com\nmax_age: 1\n", "", nil, 0, nil, `policy line 3: field "mx"`},
		{"bare wildcard", "version: STSv1\nmode: enforce\nmx: *.com.\nmx: *\nmax_age: 1\n", "", nil, 0, nil, `policy line 4: field "mx"`},
		{"not a field line", "version: STSv1\nmode enforce\n", "", nil, 0, nil, "policy line 2: \"mode enforce\" is not"},
		{"bad field name", "version: STSv1\n_mode: enforce\n", "", nil, 0, nil, "policy line 2: \"_mode\" is not a field name"},
		{"empty value", "version: STSv1\nmode:\n", "", nil, 0, nil, `policy line 2: field "mode": empty value`},
		{"control character", "version: STSv1\nmode: enforce\x00\n", "", nil, 0, nil, "control character"},
		{"HTML error page", "<html><body>Not found</body></html>\n", "", nil, 0, nil, "policy line 1"},
		{"oversized", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n" + strings.Repeat("x: y\n", MaxPolicySize/5+1), "", nil, 0, nil, "more than the 65536"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParsePolicy error %v, want %q", err, tc.err)
				}
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Errorf("error %T is not a *SyntaxError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Version != "STSv1" || p.Mode != tc.mode || strings.Join(p.MX, ",") != strings.Join(tc.mx, ",") || p.MaxAge != tc.maxAge {
				t.Errorf("got %+v", p)
			}
			if len(p.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %q", p.Warnings, tc.warnings)
			}
			for i, w := range tc.warnings {
				if !strings.Contains(p.Warnings[i], w) {
					t.Errorf("warning %q, want %q", p.Warnings[i], w)
				}
			}
			if p.EffectiveMaxAge() > MaxAge {
				t.Errorf("EffectiveMaxAge %d", p.EffectiveMaxAge())
			}
		})
	}
}

func TestMatches(t *testing.T) {
	tests := []struct {
		name, pattern, host string
		want                bool
	}{
		{"exact", "mx1.example.com", "mx1.example.com", true},
		{"case and trailing dot", "MX1.example.com", "mx1.EXAMPLE.com.", true},
		{"other host", "mx1.example.com", "mx2.example.com", false},
		{"wildcard one label", "*.example.com", "mx1.example.com", true},
		{"wildcard is not two labels", "*.example.com", "a.mx1.example.com", false},
		{"wildcard is not the parent", "*.example.com", "example.com", false},
		{"wildcard needs a label", "*.example.com", ".example.com", false},
		{"suffix is not a match", "example.com", "mx.example.com", false},
		{"empty host", "*.example.com", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Matches(tc.pattern, tc.host); got != tc.want {
				t.Errorf("Matches(%q, %q) = %v", tc.pattern, tc.host, got)
			}
		})
	}
}

func TestParseRecords(t *testing.T) {
	tests := []struct {
		name string
		txts []string
		id   string
		err  string
	}{
		{"RFC 8461 example", []string{"v=STSv1; id=20160831085700Z;"}, "20160831085700Z", ""},
		{"other TXT records are discarded", []string{"google-site-verification=abc", "v=STSv1;id=1", "v=spf1 -all"}, "1", ""},
		{"extension", []string{"v=STSv1; id=abc; ext=x"}, "abc", ""},
		{"blanks around the semicolon", []string{"v=STSv1 ; id=abc"}, "abc", ""},
		{"none", []string{"v=spf1 -all"}, "", "no v=STSv1"},
		{"nothing at all", nil, "", "no v=STSv1"},
		{"two records", []string{"v=STSv1; id=1", "v=STSv1; id=2"}, "", "2 v=STSv1 TXT records"},
		{"no id", []string{"v=STSv1;"}, "", "has no id"},
		{"id too long", []string{"v=STSv1; id=" + strings.Repeat("a", 33)}, "", "not 1 to 32"},
		{"id with punctuation", []string{"v=STSv1; id=2026-06-01"}, "", "not 1 to 32"},
		{"empty field in the middle", []string{"v=STSv1; ; id=1"}, "", "field 2 is empty"},
		{"lower-case version is another record", []string{"v=stsv1; id=1"}, "", "no v=STSv1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRecords(tc.txts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.ID != tc.id {
				t.Errorf("id %q, want %q", r.ID, tc.id)
			}
		})
	}
	if !errors.Is(func() error { _, err := ParseRecords(nil); return err }(), ErrNoRecord) {
		t.Error("no record is not ErrNoRecord")
	}
}

// FuzzParsePolicy: no input panics, and a parsed policy written back parses to the same policy.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParsePolicy(body)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *SyntaxError", err, err)
			}
			return
		}
		again, err := ParsePolicy([]byte(p.String()))
		if err != nil {
			t.Fatalf("%q parsed, but its rewrite %q does not: %v", body, p.String(), err)
		}
		if again.String() != p.String() {
			t.Fatalf("rewrite changed the policy: %q -> %q", p.String(), again.String())
		}
		for _, mx := range p.MX {
			if checkPattern(mx) != nil || mx != strings.ToLower(mx) {
				t.Fatalf("accepted mx pattern %q", mx)
			}
		}
	})
}
