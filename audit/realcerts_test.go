package audit

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit/dn"
)

// auditNow is the fixed clock of these tests (the reports fixture's run start).
var auditNow = time.Date(2026, 7, 1, 6, 0, 0, 0, time.UTC)

// realChain reads the real public certificates of testdata/name (see
// testdata/README.md), in file order. A negative serial parses because go.mod
// sets godebug x509negativeserial=1.
func realChain(t *testing.T, name string) []*x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("%s: certificate %d: %v", name, len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no certificate", name)
	}
	return out
}

// realCert returns certificate i (0 = first in the file) of testdata/name.
func realCert(t *testing.T, name string, i int) *x509.Certificate {
	t.Helper()
	cs := realChain(t, name)
	if i >= len(cs) {
		t.Fatalf("%s has %d certificates, want certificate %d", name, len(cs), i+1)
	}
	return cs[i]
}

// derSerial returns the bytes of the serial number INTEGER exactly as the
// certificate's DER holds them: what Windows shows as the serial number.
func derSerial(t *testing.T, raw []byte) []byte {
	t.Helper()
	var cert, tbs, first asn1.RawValue
	if _, err := asn1.Unmarshal(raw, &cert); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(cert.Bytes, &tbs); err != nil {
		t.Fatal(err)
	}
	rest, err := asn1.Unmarshal(tbs.Bytes, &first)
	if err != nil {
		t.Fatal(err)
	}
	if first.Class == asn1.ClassContextSpecific && first.Tag == 0 { // [0] version
		if _, err := asn1.Unmarshal(rest, &first); err != nil {
			t.Fatal(err)
		}
	}
	if first.Tag != asn1.TagInteger {
		t.Fatalf("serial number has tag %d, want INTEGER", first.Tag)
	}
	return first.Bytes
}

func TestSerialHexRealCertificates(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		index      int
		want       string
	}{
		// EC-ACC's serial is negative: Windows shows its DER bytes, ee 2b 3d eb ...
		{"negative serial EC-ACC root", "ec-acc-negative-serial.pem", 1, "EE2B3DEBD421DE14A862AC04F3DDC401"},
		{"positive serial EC-Ciutadania", "ec-acc-negative-serial.pem", 0, "73EEAE15E3DFADA8541A95ECF258624F"},
		// The top bit is set: DER (and Windows) keep a leading 00.
		{"serial with top bit set keeps 00", "laposte-36-sans.pem", 0, "0088D27CBF0003174B1C7EE0208EDB668BE7A06199"},
		{"short serial GeoTrust", "google-giag2-sha1.pem", 2, "023456"},
		{"Google leaf", "google-giag2-sha1.pem", 0, "711E64E1D9287B4E"},
		{"leading zero nibble kept", "letsencrypt-57-sans.pem", 0, "039F94BADC798EEA44F8C81CEB0515024871"},
		{"ECDSA root", "globalsign-ecc-r4.pem", 0, "0203E57EF53F93FDA50921B2A6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := realCert(t, tc.file, tc.index)
			got := SerialHex(c.SerialNumber)
			if got != tc.want {
				t.Errorf("SerialHex = %s, want %s", got, tc.want)
			}
			if der := strings.ToUpper(hex.EncodeToString(derSerial(t, c.Raw))); got != der {
				t.Errorf("SerialHex = %s, but the certificate's DER holds %s", got, der)
			}
			if NewCert(c).Serial != got {
				t.Errorf("NewCert serial %s, SerialHex %s", NewCert(c).Serial, got)
			}
		})
	}
}

// TestSerialHexBoundaries checks the byte boundaries of two's complement
// against encoding/asn1's own DER encoding of the same number.
func TestSerialHexBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int64
		want string
	}{
		{"zero", 0, "00"},
		{"one", 1, "01"},
		{"127 fits one byte", 127, "7F"},
		{"128 needs a sign byte", 128, "0080"},
		{"255", 255, "00FF"},
		{"256", 256, "0100"},
		{"minus one", -1, "FF"},
		{"minus 128 fits one byte", -128, "80"},
		{"minus 129 needs two", -129, "FF7F"},
		{"minus 256", -256, "FF00"},
		{"minus 32768", -32768, "8000"},
		{"minus 32769", -32769, "FF7FFF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := big.NewInt(tc.n)
			if got := SerialHex(n); got != tc.want {
				t.Errorf("SerialHex(%d) = %s, want %s", tc.n, got, tc.want)
			}
			der, err := asn1.Marshal(n)
			if err != nil {
				t.Fatal(err)
			}
			if got, asn := SerialHex(n), strings.ToUpper(hex.EncodeToString(der[2:])); got != asn {
				t.Errorf("SerialHex(%d) = %s, encoding/asn1 writes %s", tc.n, got, asn)
			}
		})
	}
	if SerialHex(nil) != "" {
		t.Error("SerialHex(nil) is not empty")
	}
}

func TestNewCertRealCertificates(t *testing.T) {
	for _, tc := range []struct {
		name, file              string
		index                   int
		sha1, keyType, sigAlg   string
		keyBits, nDNS           int
		firstDNS, lastDNS       string
		notAfter                time.Time
		subjectCN, issuerPrefix string
	}{
		{"negative serial root, SHA-1 self-signed", "ec-acc-negative-serial.pem", 1,
			"28903A635B5280FAE6774C0B6DA7D6BAA64AF2E8", "RSA", "SHA1-RSA", 2048, 0, "", "",
			time.Date(2031, 1, 7, 22, 59, 59, 0, time.UTC), "EC-ACC", "CN=EC-ACC,"},
		{"intermediate under a negative serial root", "ec-acc-negative-serial.pem", 0,
			"65AC9B17FB9AD079BD69FDF916A24100EED21063", "RSA", "SHA256-RSA", 2048, 0, "", "",
			time.Date(2030, 9, 18, 8, 21, 0, 0, time.UTC), "EC-Ciutadania", "CN=EC-ACC,"},
		{"SHA-1 leaf", "google-giag2-sha1.pem", 0,
			"A7C402A35D6CFBCD843F18598F70C1299FD0F383", "RSA", "SHA1-RSA", 2048, 1, "www.google.com", "www.google.com",
			time.Date(2014, 6, 10, 0, 0, 0, 0, time.UTC), "www.google.com", "CN=Google Internet Authority G2,"},
		{"SHA-1 intermediate", "google-giag2-sha1.pem", 1,
			"D83C1A7F4D0446BB2081B81A1670F8183451CA24", "RSA", "SHA1-RSA", 2048, 0, "", "",
			time.Date(2015, 4, 4, 15, 15, 55, 0, time.UTC), "Google Internet Authority G2", "CN=GeoTrust Global CA,"},
		{"root in certifi", "google-giag2-sha1.pem", 2,
			"DE28F4A4FFE5B92FA3C503D1A349A7F9962A8212", "RSA", "SHA1-RSA", 2048, 0, "", "",
			time.Date(2022, 5, 21, 4, 0, 0, 0, time.UTC), "GeoTrust Global CA", "CN=GeoTrust Global CA,"},
		{"36 DNS names", "laposte-36-sans.pem", 0,
			"80B9E7932FFDEC46299219033CA7E0C8B82864D3", "RSA", "SHA256-RSA", 2048, 36,
			"internet.extra.laposte.fr", "www.lebrandcenter-prod.legroupe.laposte.fr",
			time.Date(2019, 6, 29, 14, 34, 31, 0, time.UTC), "internet.extra.laposte.fr", "CN=Certinomis - Easy CA,"},
		{"57 IDN DNS names", "letsencrypt-57-sans.pem", 0,
			"00A7FDBFF1DA0A54099EE9E15AEBA3C3622E4B09", "RSA", "SHA256-RSA", 2048, 57,
			"xn-----blcihca2aqinbjzlgp0hrd8c.xn--b1addckdrqixje4a.xn--p1ai", "xn--j1ao.xn--b1addckdrqixje4a.xn--p1ai",
			time.Date(2017, 11, 8, 6, 16, 0, 0, time.UTC), "xn--80aqafgnbi.xn--b1addckdrqixje4a.xn--p1ai", "CN=Let's Encrypt Authority X3,"},
		{"two CN attributes", "dfn-repeated-cn.pem", 0,
			"B718C08E314B97E8DB969E1CEC47F79E1EB2F578", "RSA", "SHA256-RSA", 2048, 2,
			"planer.vetmed.uni-leipzig.de", "vote.vetmed.uni-leipzig.de",
			time.Date(2022, 2, 12, 13, 39, 8, 0, time.UTC), "vote.vetmed.uni-leipzig.de", "CN=DFN-Verein Global Issuing CA,"},
		{"ECDSA P-256 root", "globalsign-ecc-r4.pem", 0,
			"6BA0B098E171EF5AADFE4815807710F4BD6F0B28", "ECDSA", "ECDSA-SHA256", 256, 0, "", "",
			time.Date(2038, 1, 19, 3, 14, 7, 0, time.UTC), "GlobalSign", "CN=GlobalSign,"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := realCert(t, tc.file, tc.index)
			c := NewCert(x)
			for _, f := range []struct{ what, got, want string }{
				{"SHA-1 thumbprint", c.SHA1, tc.sha1},
				{"key type", c.KeyType, tc.keyType},
				{"signature algorithm", c.SigAlg, tc.sigAlg},
			} {
				if f.got != f.want {
					t.Errorf("%s %q, want %q", f.what, f.got, f.want)
				}
			}
			if !strings.Contains(","+c.Subject+",", ",CN="+tc.subjectCN+",") {
				t.Errorf("subject %q, want CN=%s in it", c.Subject, tc.subjectCN)
			}
			if !strings.HasPrefix(c.Issuer, tc.issuerPrefix) {
				t.Errorf("issuer %q, want it to start with %q", c.Issuer, tc.issuerPrefix)
			}
			if c.KeyBits != tc.keyBits {
				t.Errorf("key bits %d, want %d", c.KeyBits, tc.keyBits)
			}
			if !c.NotAfter.Equal(tc.notAfter) || c.NotAfter.Location() != time.UTC {
				t.Errorf("not after %v, want %v in UTC", c.NotAfter, tc.notAfter)
			}
			if len(c.DNSNames) != tc.nDNS {
				t.Errorf("%d DNS names, want %d", len(c.DNSNames), tc.nDNS)
			} else if tc.nDNS > 0 && (c.DNSNames[0] != tc.firstDNS || c.DNSNames[tc.nDNS-1] != tc.lastDNS) {
				t.Errorf("DNS names run %s ... %s, want %s ... %s", c.DNSNames[0], c.DNSNames[tc.nDNS-1], tc.firstDNS, tc.lastDNS)
			}
			if len(c.SHA256) != 64 || c.SHA256 != strings.ToUpper(c.SHA256) {
				t.Errorf("SHA-256 %q is not 64 upper-case hex digits", c.SHA256)
			}
			if string(c.DER) != string(x.Raw) {
				t.Error("DER is not the certificate's own bytes")
			}
		})
	}
}

// TestRepeatedCNInPins keeps both CN attributes of a real certificate that
// carries two: an inventory pin naming either one is compared against both.
// (Go's pkix.Name.String, and so Cert.Subject, shows only the last CN.)
func TestRepeatedCNInPins(t *testing.T) {
	x := realCert(t, "dfn-repeated-cn.pem", 0)
	got := dn.FromPKIX(x.Subject)
	var cns []string
	for _, a := range got {
		if a.Type == "CN" {
			cns = append(cns, a.Value)
		}
	}
	if want := []string{"vote.vetmed.uni-leipzig.de", "planer.vetmed.uni-leipzig.de"}; strings.Join(cns, "|") != strings.Join(want, "|") {
		t.Errorf("CN attributes %q, want %q (most specific first)", cns, want)
	}
	pin, err := dn.Parse("CN=vote.vetmed.uni-leipzig.de, CN=planer.vetmed.uni-leipzig.de, O=Universitaet Leipzig, L=Leipzig, S=Sachsen, C=DE")
	if err != nil {
		t.Fatal(err)
	}
	if !dn.Match(pin, got) {
		t.Errorf("the Windows form of the subject does not match the certificate's subject %v", got)
	}
	short, _ := dn.Parse("CN=vote.vetmed.uni-leipzig.de, O=Universitaet Leipzig, L=Leipzig, S=Sachsen, C=DE")
	if dn.Match(short, got) {
		t.Error("a pin without the second CN matches: the second CN was lost")
	}
}

func TestDaysLeftRealCertificates(t *testing.T) {
	ciutadania := realCert(t, "ec-acc-negative-serial.pem", 0).NotAfter // 2030-09-18 08:21:00 UTC
	for _, tc := range []struct {
		name     string
		notAfter time.Time
		now      time.Time
		want     int
	}{
		{"EC-ACC root from the run's clock", realCert(t, "ec-acc-negative-serial.pem", 1).NotAfter, auditNow, 1651},
		{"GlobalSign R4 from the run's clock", realCert(t, "globalsign-ecc-r4.pem", 0).NotAfter, auditNow, 4219},
		{"Google leaf in its own time", realCert(t, "google-giag2-sha1.pem", 0).NotAfter, time.Date(2014, 4, 1, 12, 0, 0, 0, time.UTC), 69},
		{"Google leaf long expired", realCert(t, "google-giag2-sha1.pem", 0).NotAfter, auditNow, -4405},
		{"GeoTrust root expired", realCert(t, "google-giag2-sha1.pem", 2).NotAfter, auditNow, -1503},
		{"a day before", ciutadania, ciutadania.Add(-24 * time.Hour), 1},
		{"a second less than a day before", ciutadania, ciutadania.Add(-24*time.Hour + time.Second), 0},
		{"at the instant", ciutadania, ciutadania, 0},
		{"a second after", ciutadania, ciutadania.Add(time.Second), -1},
		{"a day after", ciutadania, ciutadania.Add(24 * time.Hour), -1},
		{"a day and a second after", ciutadania, ciutadania.Add(24*time.Hour + time.Second), -2},
		{"clock in another zone", ciutadania, ciutadania.Add(-48 * time.Hour).In(time.FixedZone("CEST", 2*3600)), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DaysLeft(tc.notAfter, tc.now); got != tc.want {
				t.Errorf("DaysLeft(%v, %v) = %d, want %d", tc.notAfter, tc.now, got, tc.want)
			}
		})
	}
}

func TestRootStatusRealRoots(t *testing.T) {
	ecacc := realCert(t, "ec-acc-negative-serial.pem", 1) // not after 2031-01-07 22:59:59 UTC
	geotrust := realCert(t, "google-giag2-sha1.pem", 2)   // not after 2022-05-21
	r4 := realCert(t, "globalsign-ecc-r4.pem", 0)         // not after 2038-01-19
	used := []string{"Agència Catalana"}
	for _, tc := range []struct {
		name   string
		root   *x509.Certificate
		now    time.Time
		usedBy []string
		want   string
	}{
		{"negative serial root in use", ecacc, auditNow, used, RootOK},
		{"negative serial root no partner uses", ecacc, auditNow, nil, RootUnused},
		{"91 days left", ecacc, ecacc.NotAfter.Add(-91 * 24 * time.Hour), used, RootOK},
		{"90 days left", ecacc, ecacc.NotAfter.Add(-90 * 24 * time.Hour), used, RootExpiring},
		{"expiring before unused", ecacc, ecacc.NotAfter.Add(-30 * 24 * time.Hour), nil, RootExpiring},
		{"last second", ecacc, ecacc.NotAfter, used, RootExpiring},
		{"a second after", ecacc, ecacc.NotAfter.Add(time.Second), used, RootExpired},
		{"expired root still used", geotrust, auditNow, used, RootExpired},
		{"expired before unused", geotrust, auditNow, nil, RootExpired},
		{"ECDSA root far from expiry", r4, auditNow, used, RootOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := DefaultThresholds()
			if got := th.RootStatus(DaysLeft(tc.root.NotAfter, tc.now), len(tc.usedBy) > 0); got != tc.want {
				t.Errorf("RootStatus(%d days left, used by %v) = %q, want %q", DaysLeft(tc.root.NotAfter, tc.now), tc.usedBy, got, tc.want)
			}
		})
	}
}

// TestPrimary picks the most severe verdict, as a partner presenting these
// real chains gets them (internal/verify's realchains_test derives them).
func TestPrimary(t *testing.T) {
	for _, tc := range []struct {
		name string
		vs   []Verdict
		want Verdict
	}{
		{"none is valid", nil, Valid},
		{"valid alone", []Verdict{Valid}, Valid},
		{"Google 2014 chain today: expired before weak signature", []Verdict{WeakSignature, Expired, NameMismatch}, Expired},
		{"Google 2014 chain in its time: weak signature only", []Verdict{WeakSignature}, WeakSignature},
		{"EC-ACC chain untrusted, SHA-1 root", []Verdict{WeakSignature, UntrustedRoot}, UntrustedRoot},
		{"self-signed before partial chain", []Verdict{PartialChain, SelfSigned}, SelfSigned},
		{"connection failures first", []Verdict{Expired, HandshakeFailed, DNSError}, DNSError},
		{"warning before not probed", []Verdict{NotProbed, RevocationOffline}, RevocationOffline},
		{"unknown verdict ranks last", []Verdict{"FutureVerdict"}, Valid},
		{"unknown after a known one", []Verdict{"FutureVerdict", WeakKey}, WeakKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Primary(tc.vs); got != tc.want {
				t.Errorf("Primary(%v) = %s, want %s", tc.vs, got, tc.want)
			}
		})
	}
}
