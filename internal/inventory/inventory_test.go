package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/regfile"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json")

type parsed struct {
	Partners []audit.Partner        `json:"partners"`
	Errors   []audit.InventoryError `json:"errors"`
	Err      string                 `json:"error,omitempty"`
}

// TestGolden reads every fixture and compares the result with testdata/golden.json.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.csv")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	got := map[string]parsed{}
	for _, f := range files {
		p, e, err := ReadFile(path.Join("testdata", filepath.Base(f))) // same file names on every OS
		r := parsed{Partners: p, Errors: e}
		if err != nil {
			r.Err = err.Error()
		}
		got[filepath.Base(f)] = r
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	golden := filepath.Join("testdata", "golden.json")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("parsed fixtures differ from %s (run go test -update and review the diff):\n%s", golden, b)
	}
}

func read(t *testing.T, in string) ([]audit.Partner, []audit.InventoryError) {
	t.Helper()
	p, e, err := Read(strings.NewReader(in), "inv.csv")
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return p, e
}

// TestQuirks feeds what spreadsheets really write and checks that the partners come through intact.
func TestQuirks(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, p []audit.Partner)
	}{
		{"utf-8 bom", "\ufeffpartner,host\nA,mx.a.example\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 1 && p[0].Name == "A", "BOM broke the header: %+v", p)
		}},
		{"semicolon", "partner;host;notes\nA;mx.a.example;x, y\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 1 && p[0].Notes == "x, y", "%+v", p)
		}},
		{"semicolon in quoted header ignored for detection", "\"a;b;c\",partner,host\n1,A,mx.a.example\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 1 && p[0].Extra["a;b;c"] == "1", "%+v", p)
		}},
		{"tab", "partner\thost\nA\tmx.a.example\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 1 && p[0].Host == "mx.a.example", "%+v", p)
		}},
		{"sep directive", "sep=;\npartner;host\nA, Inc.;mx.a.example\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 1 && p[0].Name == "A, Inc." && p[0].Line == 3, "%+v", p)
		}},
		{"crlf", "partner,host\r\nA,mx.a.example\r\nB,mx.b.example\r\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 2 && p[1].Host == "mx.b.example" && p[1].Line == 3, "%+v", p)
		}},
		{"cr only", "partner,host\rA,mx.a.example\rB,mx.b.example", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 2 && p[1].Line == 3, "%+v", p)
		}},
		{"no final newline", "partner,host\nA,mx.a.example", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 1, "%+v", p)
		}},
		{"embedded newlines keep line numbers", "partner,host,notes\nA,mx.a.example,\"one\r\ntwo\r\nthree\"\nB,mx.b.example,\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 2 && p[0].Line == 2 && p[1].Line == 5 && p[0].Notes == "one\ntwo\nthree", "%+v", p)
		}},
		{"blank and comment lines", "# inventory\n\npartner,host\n\n# A is gone\n   \nB,mx.b.example\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 1 && p[0].Line == 7, "%+v", p)
		}},
		{"excel empty rows and trailing columns", "partner;host;;;\r\nA;mx.a.example;;;\r\n;;;;\r\nB;mx.b.example;;\r\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 2 && p[1].Line == 4, "%+v", p)
		}},
		{"headers any case, spaces and order", " Host ;PARTNER; Expected Subject ;private-root\nmx.a.example;A;CN=mx.a.example;a.cer\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 1 && p[0].ExpectedSubject == "CN=mx.a.example" && p[0].PrivateRoot == "a.cer", "%+v", p)
		}},
		{"unknown columns kept by header", "partner,host,Cost Center,owner\nA,mx.a.example,CC-1,\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 1 && p[0].Extra["Cost Center"] == "CC-1" && len(p[0].Extra) == 2, "%+v", p)
		}},
		{"host normalised", "partner,host,domain\nA,MX.A.Example.,A.Example.\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 1 && p[0].Host == "mx.a.example" && p[0].Domain == "a.example", "%+v", p)
		}},
		{"idn host", "partner,host\nA,mx.bücher.example\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 1 && p[0].Host == "mx.xn--bcher-kva.example", "%+v", p)
		}},
		{"ip hosts", "partner,host\nA,192.0.2.1\nB,[2001:DB8::1]\nC,2001:db8::2\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 3 && p[0].Host == "192.0.2.1" && p[1].Host == "2001:db8::1" && p[2].Host == "2001:db8::2", "%+v", p)
		}},
		{"addresses", "partner,host,address,port\nA,mx.a.example,192.0.2.1,\nB,mx.b.example,192.0.2.1:2525,\nC,mx.c.example,[::1]:25,25\nD,mx.d.example,::1,587\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 4, "%+v", p)
			want(t, p[0].Address == "192.0.2.1" && p[0].Port == 25, "A: %+v", p[0])
			want(t, p[1].Address == "192.0.2.1:2525" && p[1].Port == 2525, "B: %+v", p[1])
			want(t, p[2].Address == "[::1]:25" && p[2].Target().DialAddress() == "[::1]:25", "C: %+v", p[2])
			want(t, p[3].Address == "::1" && p[3].Target().DialAddress() == "[::1]:587", "D: %+v", p[3])
		}},
		// The address is where to connect; port stays the service port and
		// decides the TLS mode (issue 10, item 1).
		{"address port differs from port", "partner,host,address,port\nA,mx.partner.example,10.1.2.3:2525,25\nB,mx.b.example,10.1.2.3:4650,465\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 2, "%+v", p)
			want(t, p[0].Port == 25 && p[0].TLS == audit.StartTLS && p[0].Target().DialAddress() == "10.1.2.3:2525", "A: %+v", p[0])
			want(t, p[0].Target().String() == "mx.partner.example:25 via 10.1.2.3:2525", "A: %s", p[0].Target())
			want(t, p[1].Port == 465 && p[1].TLS == audit.Implicit && p[1].Target().DialAddress() == "10.1.2.3:4650", "B: %+v", p[1])
		}},
		{"port and tls defaults", "partner,host,port,tls\nA,mx.a.example,,\nB,mx.b.example,465,\nC,mx.c.example,465,StartTLS\nD,mx.d.example,2465,IMPLICIT\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 4, "%+v", p)
			want(t, p[0].Port == 25 && p[0].TLS == audit.StartTLS, "A: %+v", p[0])
			want(t, p[1].TLS == audit.Implicit, "B: %+v", p[1])
			want(t, p[2].TLS == audit.StartTLS, "C: %+v", p[2])
			want(t, p[3].TLS == audit.Implicit, "D: %+v", p[3])
		}},
		{"booleans", "partner,host,enforced\nA,a.example,TRUE\nB,b.example,no\nC,c.example,1\nD,d.example,\nE,e.example,Wahr\nF,f.example,yes\n", func(t *testing.T, p []audit.Partner) {
			var got []bool
			for _, x := range p {
				got = append(got, x.Enforced)
			}
			want(t, fmt.Sprint(got) == "[true false true false true true]", "enforced = %v", got)
		}},
		{"contacts", `partner,host,contact` + "\n" + `A,a.example,"a@a.example; b@a.example,""Doe, Jane"" <jane@a.example>;"` + "\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 1 && p[0].Contact == `a@a.example, b@a.example, "Doe, Jane" <jane@a.example>`, "%+v", p)
		}},
		{"pins and names in every format", "partner;host;expected_issuer;expected_subject\n" +
			"A;a.example;\"CN=CA, O=\"\"A, Inc.\"\", S=WA, C=US\";CN=a.example,O=A\\, Inc.\n" +
			"B;b.example;/C=US/O=B/CN=B CA;C = US, O = B, CN = b.example\n" +
			"C;c.example;<I>CN=C CA<S>CN=c.example;\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 3, "%+v", p)
		}},
		{"no-break and zero-width spaces trimmed", "partner,host\n\u00a0A\u200b,\u00a0mx.a.example\u00a0\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 1 && p[0].Name == "A" && p[0].Host == "mx.a.example", "%+v", p)
		}},
		{"domains only", "partner,domain,port\nA,A.Example.,\nA,b.example,\nB,bücher.example,587\n", func(t *testing.T, p []audit.Partner) {
			if len(p) != 3 || p[0].Domain != "a.example" || p[0].Host != "" || p[0].Port != 25 || p[0].TLS != audit.StartTLS ||
				p[1].Name != "A" || p[2].Domain != "xn--bcher-kva.example" || p[2].Port != 587 {
				t.Errorf("%+v", p)
			}
		}},
		{"same host for two partners", "partner,host\nA,mx.shared.example\nB,mx.shared.example\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 2, "%+v", p)
		}},
		{"header only", "partner,host\n", func(t *testing.T, p []audit.Partner) {
			want(t, len(p) == 0, "%+v", p)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, e := read(t, tt.in)
			if len(e) > 0 {
				t.Fatalf("unexpected errors: %v", e)
			}
			tt.check(t, p)
		})
	}
}

func want(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}

// TestRowErrors checks that each kind of bad row is reported where it is, and left out.
func TestRowErrors(t *testing.T) {
	const head = "partner,domain,host,address,port,tls,enforced,contact,expected_issuer,expected_subject,private_root,notes\n"
	type e struct {
		line   int
		column string
		msg    string
	}
	tests := []struct {
		name string
		in   string
		want []e
		keep int // partners that survive
	}{
		{"empty partner", head + ",,mx.a.example,,,,,,,,,\n", []e{{2, "partner", "partner name is empty"}}, 0},
		{"empty host and domain", head + "A,,,,,,,,,,,\n", []e{{2, "host", "host and domain are empty"}}, 0},
		{"address without host", head + "A,a.example,,192.0.2.1,,,,,,,,\n", []e{{2, "address", "an address needs a host"}}, 0},
		{"bad domain without host", head + "A,a_b.example,,,,,,,,,,\n", []e{{2, "domain", `label "a_b" contains '_'`}}, 0},
		{"duplicate domain row", head + "A,a.example,,,,,,,,,,\nA,A.example.,,,25,,,,,,,\n", []e{{3, "", "duplicate of line 2 (same partner, domain and port)"}}, 1},
		{"bad host label", head + "A,,mx_1.a.example,,,,,,,,,\n", []e{{2, "host", `label "mx_1" contains '_'`}}, 0},
		{"hyphen label", head + "A,,-x.a.example,,,,,,,,,\n", []e{{2, "host", "starts or ends with a hyphen"}}, 0},
		{"long label", head + "A,," + strings.Repeat("a", 64) + ".example,,,,,,,,,\n", []e{{2, "host", "longer than 63"}}, 0},
		{"host with port", head + "A,,mx.a.example:25,,,,,,,,,\n", []e{{2, "host", "put the port in the port column"}}, 0},
		{"url as domain", head + "A,https://a.example,mx.a.example,,,,,,,,,\n", []e{{2, "domain", "no URL scheme"}}, 0},
		{"address is a name", head + "A,,mx.a.example,mx.a.example,,,,,,,,\n", []e{{2, "address", "not an IP address"}}, 0},
		{"address port 0", head + "A,,mx.a.example,192.0.2.1:0,,,,,,,,\n", []e{{2, "address", "port 0"}}, 0},
		{"port not a number", head + "A,,mx.a.example,,25x,,,,,,,\n", []e{{2, "port", `"25x" is not a port number`}}, 0},
		{"port out of range", head + "A,,mx.a.example,,0,,,,,,,\nB,,mx.b.example,,65536,,,,,,,\n", []e{{2, "port", "not a port"}, {3, "port", "not a port"}}, 0},
		{"tls mode", head + "A,,mx.a.example,,,ssl,,,,,,\n", []e{{2, "tls", `"ssl" is not a TLS mode`}}, 0},
		{"enforced", head + "A,,mx.a.example,,,,maybe,,,,,\n", []e{{2, "enforced", `"maybe" is not true or false`}}, 0},
		{"bad contact alone: audited, reported", head + "A,,mx.a.example,,,,,\"x@a.example; nope; also nope\",,,,\n", []e{{2, "contact", `"nope", "also nope" are not e-mail addresses; the partner is audited`}}, 1},
		{"contact separators only", head + "A,,mx.a.example,,,,,\";,\",,,,\n", []e{{2, "contact", "holds no e-mail address"}}, 1},
		{"bad contact and a bad port: left out", head + "A,,mx.a.example,,25x,,,nope,,,,\n", []e{{2, "port", "not a port number"}, {2, "contact", "not an e-mail address"}}, 0},
		{"issuer", head + "A,,mx.a.example,,,,,,garbage,,,\n", []e{{2, "expected_issuer", `"garbage" is not TYPE=value`}}, 0},
		{"bad pin", head + "A,,mx.a.example,,,,,,<I>CN=x<S>junk,,,\n", []e{{2, "expected_issuer", "subject"}}, 0},
		{"subject", head + "A,,mx.a.example,,,,,,,\"CN=x, O=Foo, Inc.\",,\n", []e{{2, "expected_subject", `"Inc." is not TYPE=value`}}, 0},
		{"subject pinned twice", head + "A,,mx.a.example,,,,,,<I>CN=ca<S>CN=x,CN=x,,\n", []e{{2, "expected_subject", "already pinned"}}, 0},
		{"private root path", head + "A,,mx.a.example,,,,,,,,../roots/a.cer,\nB,,mx.b.example,,,,,,,,C:\\a.cer,\n", []e{{2, "private_root", "without a path"}, {3, "private_root", "without a path"}}, 0},
		{"every bad field reported", head + "A,bad_domain,mx.a.example,nohost,x,y,z,w,v,CN,a/b,\n", []e{
			{2, "domain", ""}, {2, "address", ""}, {2, "port", ""}, {2, "tls", ""}, {2, "enforced", ""},
			{2, "contact", ""}, {2, "expected_issuer", ""}, {2, "expected_subject", ""}, {2, "private_root", ""},
		}, 0},
		{"too many fields", head + "A,,mx.a.example,,,,,,,,,,surplus\n", []e{{2, "", `field 13 "surplus" has no column`}}, 0},
		{"too few fields", head + "A,,mx.a.example\n", []e{{2, "", "row has 3 fields, the header has 12"}}, 0},
		{"bare quote", head + "A,,mx.a.example,,,,,,,,,Say \"hi\"\nB,,mx.b.example,,,,,,,,,\n", []e{{2, "", "bare \""}}, 1},
		{"unterminated quote swallows the rest", head + "A,,mx.a.example,,,,,,,,,\"open\nB,,mx.b.example,,,,,,,,,\n", []e{{2, "", "extraneous or missing \""}}, 0},
		{"repeated header", head + "A,,mx.a.example,,,,,,,,,\n" + head + "B,,mx.b.example,,,,,,,,,\n", []e{{3, "", "header row repeated"}}, 2},
		{"duplicate row", head + "A,,mx.a.example,,,,,,,,,\na,,MX.A.EXAMPLE.,,25,,,,,,,\n", []e{{3, "", "duplicate of line 2"}}, 1},
		{"windows-1252 file is decoded", head + "Soci\xe9t\xe9,,mx.a.example,,,,,,,,,\nB,,mx.b.example,,,,,,,,,\n", nil, 2},
		{"windows-1252 file with a bad host", head + "A,,mx_\xe9.example,,,,,,,,,\n", []e{{2, "host", "host name"}}, 0},
		{"value under unnamed column", "partner,,host\nA,x,mx.a.example\n", []e{{2, "", `"x" is under a column without a header`}}, 0},
		{"error line inside multi-line record", head + "A,\"multi\nline\",mx.a.example,,,,,,,,,\nB,,bad host,,,,,,,,,\n", []e{{2, "domain", ""}, {4, "host", ""}}, 0},
		{"error on a later line of a record", head + "A,,mx.a.example,,,,,,,,,\"one\ntwo\",\nB,,mx.b.example,,,,,,,,,x\n", nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, errs := read(t, tt.in)
			if len(p) != tt.keep {
				t.Errorf("kept %d partners, want %d: %+v", len(p), tt.keep, p)
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), errs)
			}
			for i, w := range tt.want {
				g := errs[i]
				if g.File != "inv.csv" || g.Line != w.line || g.Column != w.column || !strings.Contains(g.Message, w.msg) {
					t.Errorf("error %d = %v, want line %d column %q containing %q", i, g, w.line, w.column, w.msg)
				}
			}
		})
	}
}

// TestFileErrors checks the inputs that make the whole file unusable.
func TestFileErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		msg  string
	}{
		{"empty", "", 1, "empty file"},
		{"only blanks", "\n\r\n  \n", 1, "empty file"},
		{"only comments", "# nothing\n# here\n", 1, "empty file"},
		{"only bom", "\ufeff", 1, "empty file"},
		{"utf-16", "\xff\xfep\x00a\x00", 1, "UTF-16"},
		{"missing partner", "name,host\nA,b\n", 1, `required column "partner" missing (header has "name", "host")`},
		{"missing both", "# c\nname;server\n", 2, `"partner" and "domain" or "host" missing`},
		{"neither host nor domain", "partner,address\n", 1, `required column "domain" or "host" missing (header has "partner", "address")`},
		{"duplicate header", "partner,Host,notes,host\n", 1, "duplicate column header (columns 2 and 4)"},
		{"duplicate after normalising", "partner,host,Expected Issuer,expected_issuer\n", 1, "duplicate column header"},
		{"windows-1252 header is decoded", "partner,h\xf6st\n", 1, `required column "domain" or "host" missing (header has "partner", "höst")`},
		{"header bad quote", "partner,\"host\n", 1, "header:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, e, err := Read(strings.NewReader(tt.in), "inv.csv")
			var ie audit.InventoryError
			if !errors.As(err, &ie) {
				t.Fatalf("error = %v (%T), want audit.InventoryError", err, err)
			}
			if p != nil || e != nil {
				t.Errorf("got partners %v and errors %v with a file error", p, e)
			}
			if ie.File != "inv.csv" || ie.Line != tt.line || !strings.Contains(ie.Message, tt.msg) {
				t.Errorf("error = %v, want line %d containing %q", ie, tt.line, tt.msg)
			}
		})
	}
	t.Run("unreadable file", func(t *testing.T) {
		_, _, err := ReadFile(filepath.Join(t.TempDir(), "missing.csv"))
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.csv") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("read error", func(t *testing.T) {
		_, _, err := Read(iotest.ErrReader(errors.New("disk on fire")), "inv.csv")
		if err == nil || !strings.Contains(err.Error(), "inv.csv") || !strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("error = %v", err)
		}
	})
}

func TestInventoryErrorString(t *testing.T) {
	_, errs := read(t, "partner,host,port\nA,mx.a.example,25x\n")
	if len(errs) != 1 || errs[0].Error() != `inv.csv:2: column "port": "25x" is not a port number (1-65535)` {
		t.Errorf("errors = %v", errs)
	}
}

func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.csv")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("partner,host\nA,mx.a.example\n"))
	f.Add([]byte("sep=;\npartner;host;address;port\nA;[::1];[::1]:25;25\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, errs, err := Read(bytes.NewReader(b), "fuzz.csv")
		if err != nil {
			if p != nil || errs != nil {
				t.Fatalf("results with a file error: %v", err)
			}
			return
		}
		for _, x := range p {
			if x.Name == "" || x.Host == "" || x.Line < 1 || x.Port < 1 || x.Port > 65535 ||
				(x.TLS != audit.StartTLS && x.TLS != audit.Implicit) {
				t.Fatalf("invalid partner %+v", x)
			}
		}
		for _, e := range errs {
			if e.Line < 1 || e.Message == "" {
				t.Fatalf("invalid error %+v", e)
			}
		}
	})
}

// BenchmarkRead100k reads an inventory of 100,000 partner rows.
func BenchmarkRead100k(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("\ufeffpartner;domain;host;address;port;tls;enforced;contact;expected_issuer;expected_subject;private_root;notes\r\n")
	for i := range 100_000 {
		fmt.Fprintf(&buf, "Partner %d;p%d.example;mx%d.p%d.example;192.0.2.%d;25;starttls;yes;\"pki@p%d.example; ops@p%d.example\";\"CN=CA %d, O=\"\"P, Inc.\"\", C=US\";CN=mx%d.p%d.example;;\"note\r\nline 2\"\r\n",
			i, i, i, i, i%250+1, i, i, i, i, i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		p, errs, err := Read(bytes.NewReader(data), "bench.csv")
		if err != nil || len(errs) != 0 || len(p) != 100_000 {
			b.Fatalf("got %d partners, %d errors (%v), err %v", len(p), len(errs), errs[:min(len(errs), 3)], err)
		}
	}
}

// TestLoadEncoding: a file Excel saved as "CSV (comma delimited)" on a
// German Windows (Windows-1252, umlauts, ß, the euro sign) is read, and
// Load says which encoding it read.
func TestLoadEncoding(t *testing.T) {
	utf8File := filepath.Join(t.TempDir(), "utf8.csv")
	os.WriteFile(utf8File, []byte("\ufeffpartner;host\nMüller GmbH;mx.mueller.example\n"), 0o644)
	tests := []struct {
		name     string
		path     string
		encoding string
		names    []string
		notes    string
	}{
		{"Windows-1252", "testdata/excel-1252.csv", EncodingWindows1252, []string{"Müller GmbH", "Bäckerei Süß", "Größe AG"}, "Preis 5 €"},
		{"UTF-8 with BOM", utf8File, EncodingUTF8, []string{"Müller GmbH"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Load(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if f.Encoding != tt.encoding || len(f.Errors) != 0 {
				t.Errorf("encoding %q, errors %v; want %q and none", f.Encoding, f.Errors, tt.encoding)
			}
			var names []string
			for _, p := range f.Partners {
				names = append(names, p.Name)
			}
			if !slices.Equal(names, tt.names) {
				t.Errorf("partners %q, want %q", names, tt.names)
			}
			if tt.notes != "" && f.Partners[1].Notes != tt.notes {
				t.Errorf("notes %q, want %q", f.Partners[1].Notes, tt.notes)
			}
		})
	}
}

// TestLoadSpecialFiles: a FIFO or a symlink to /dev/zero given as the
// inventory is refused at once, naming the file and why.
func TestLoadSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "partners.csv")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.csv")
	os.Symlink("/dev/zero", zero)
	for _, tc := range []struct{ path, reason string }{
		{fifo, "a FIFO (named pipe), not a regular file"},
		{zero, "a character device, not a regular file"},
	} {
		done := make(chan error, 1)
		go func() { _, err := Load(tc.path); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, regfile.ErrNotRegular) || !strings.Contains(err.Error(), tc.path+": "+tc.reason) {
				t.Errorf("Load(%s) = %v; want %q", tc.path, err, tc.reason)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Load(%s) blocked", tc.path)
		}
	}
}
