package verify

import (
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

// now is the fixed clock of every test, as crypto/x509's tests use CurrentTime.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func day(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func spec(names ...string) fleet.CertSpec {
	return fleet.CertSpec{CommonName: names[0], DNSNames: names, NotBefore: now.Add(-day(30)), NotAfter: now.Add(day(300))}
}

func caSpec(cn string) fleet.CertSpec {
	return fleet.CertSpec{CommonName: cn, Org: "Test PKI", NotBefore: now.Add(-day(1000)), NotAfter: now.Add(day(3000))}
}

func TestVerify(t *testing.T) {
	root := must(fleet.NewRoot(caSpec("Public Root")))
	inter := must(root.SubCA(caSpec("Issuing CA 1")))
	private := must(fleet.NewRoot(caSpec("Private Root")))
	other := must(fleet.NewRoot(caSpec("Unknown Root")))
	oldRootSpec := caSpec("Old Private Root")
	oldRootSpec.NotAfter = now.Add(-day(2))
	oldRoot := must(fleet.NewRoot(oldRootSpec))
	oldInterSpec := caSpec("Old Issuing CA")
	oldInterSpec.NotAfter = now.Add(-day(1))
	oldInter := must(root.SubCA(oldInterSpec))

	leaf := func(ca *fleet.CA, s fleet.CertSpec) *x509.Certificate { return must(ca.Issue(s)).Cert }
	expiredWrong := spec("mail.other.example")
	expiredWrong.NotAfter = now.Add(-day(1))
	future := spec("mx.a.example")
	future.NotBefore = now.Add(day(3))
	rsa1024 := spec("mx.a.example")
	rsa1024.RSABits = 1024
	sha1 := spec("mx.a.example")
	sha1.SigAlg = x509.ECDSAWithSHA1
	clientAuth := spec("mx.a.example")
	clientAuth.ExtKeyUse = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	good := leaf(inter, spec("mx.a.example", "a.example"))
	notCA := must(inter.Issue(spec("not-a-ca.example")))
	byLeaf := leaf(&fleet.CA{Cert: notCA.Cert, Key: notCA.Key}, spec("mx.a.example"))
	tampered := must(x509.ParseCertificate(good.Raw))
	tampered.Signature = slices.Clone(tampered.Signature)
	tampered.Signature[len(tampered.Signature)-3] ^= 0xff
	self := must(fleet.SelfSigned(spec("mx.a.example"))).Cert

	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	pool.AddCert(private.Cert)
	pool.AddCert(oldRoot.Cert)
	withSelf := pool.Clone()
	withSelf.AddCert(self)
	source := func(c *x509.Certificate) (string, string) {
		switch {
		case c.Equal(private.Cert):
			return audit.RootPrivate, "private.pem"
		case c.Equal(oldRoot.Cert):
			return audit.RootPrivate, "old.cer"
		}
		return audit.RootSystem, ""
	}

	tests := []struct {
		name       string
		in         Input
		roots      *x509.CertPool
		want       []audit.Verdict
		rootSource string
		detail     string // a word the primary verdict's detail must contain
	}{
		{name: "valid public chain", in: Input{Chain: []*x509.Certificate{good, inter.Cert}, Host: "mx.a.example"}, want: []audit.Verdict{audit.Valid}, rootSource: audit.RootSystem},
		{name: "valid private root", in: Input{Chain: []*x509.Certificate{leaf(private, spec("mx.a.example"))}, Host: "mx.a.example"}, want: []audit.Verdict{audit.Valid}, rootSource: audit.RootPrivate},
		{name: "host name is case-insensitive", in: Input{Chain: []*x509.Certificate{good, inter.Cert}, Host: "MX.A.Example"}, want: []audit.Verdict{audit.Valid}},
		{name: "untrusted root sent", in: Input{Chain: []*x509.Certificate{leaf(other, spec("mx.a.example")), other.Cert}, Host: "mx.a.example"}, want: []audit.Verdict{audit.UntrustedRoot}, rootSource: audit.RootNone, detail: "Unknown Root"},
		{name: "partial chain", in: Input{Chain: []*x509.Certificate{good}, Host: "mx.a.example"}, want: []audit.Verdict{audit.PartialChain}, detail: "Issuing CA 1"},
		{name: "partial chain of unknown CA", in: Input{Chain: []*x509.Certificate{leaf(other, spec("mx.a.example"))}, Host: "mx.a.example"}, want: []audit.Verdict{audit.PartialChain}},
		{name: "self-signed", in: Input{Chain: []*x509.Certificate{self}, Host: "mx.a.example"}, want: []audit.Verdict{audit.SelfSigned}},
		{name: "self-signed but trusted", in: Input{Chain: []*x509.Certificate{self}, Host: "mx.a.example"}, roots: withSelf, want: []audit.Verdict{audit.Valid}},
		{name: "expired with wrong name", in: Input{Chain: []*x509.Certificate{leaf(inter, expiredWrong), inter.Cert}, Host: "mx.a.example"}, want: []audit.Verdict{audit.Expired, audit.NameMismatch}, detail: "expired on"},
		{name: "expired intermediate", in: Input{Chain: []*x509.Certificate{leaf(oldInter, spec("mx.a.example")), oldInter.Cert}, Host: "mx.a.example"}, want: []audit.Verdict{audit.Expired}, detail: "chain certificate 2"},
		{name: "expired private root", in: Input{Chain: []*x509.Certificate{leaf(oldRoot, spec("mx.a.example"))}, Host: "mx.a.example"}, want: []audit.Verdict{audit.Expired}, rootSource: audit.RootPrivate, detail: "imported private root old.cer"},
		{name: "not yet valid", in: Input{Chain: []*x509.Certificate{leaf(inter, future), inter.Cert}, Host: "mx.a.example"}, want: []audit.Verdict{audit.NotYetValid}},
		{name: "name mismatch", in: Input{Chain: []*x509.Certificate{good, inter.Cert}, Host: "mx.b.example"}, want: []audit.Verdict{audit.NameMismatch}, detail: "mx.a.example, a.example"},
		{name: "weak key", in: Input{Chain: []*x509.Certificate{leaf(inter, rsa1024), inter.Cert}, Host: "mx.a.example"}, want: []audit.Verdict{audit.WeakKey}, detail: "1024"},
		{name: "weak signature", in: Input{Chain: []*x509.Certificate{leaf(inter, sha1), inter.Cert}, Host: "mx.a.example"}, want: []audit.Verdict{audit.WeakSignature}, detail: "SHA1"},
		{name: "client auth only", in: Input{Chain: []*x509.Certificate{leaf(inter, clientAuth), inter.Cert}, Host: "mx.a.example"}, want: []audit.Verdict{audit.WrongUsage}},
		{name: "enforced domain missing", in: Input{Chain: []*x509.Certificate{leaf(inter, spec("mx.hoster.example")), inter.Cert}, Host: "mx.hoster.example", Domain: "a.example", Enforced: true}, want: []audit.Verdict{audit.DomainMismatch}, detail: "a.example"},
		{name: "domain not checked unless enforced", in: Input{Chain: []*x509.Certificate{leaf(inter, spec("mx.hoster.example")), inter.Cert}, Host: "mx.hoster.example", Domain: "a.example"}, want: []audit.Verdict{audit.Valid}},
		{name: "domain covered by a name under it", in: Input{Chain: []*x509.Certificate{good, inter.Cert}, Host: "mx.a.example", Domain: "A.Example.", Enforced: true}, want: []audit.Verdict{audit.Valid}},
		{name: "domain covered by wildcard", in: Input{Chain: []*x509.Certificate{leaf(inter, spec("*.a.example")), inter.Cert}, Host: "mx.a.example", Domain: "a.example", Enforced: true}, want: []audit.Verdict{audit.Valid}},
		{name: "issuer pin matches in Windows format", in: Input{Chain: []*x509.Certificate{good, inter.Cert}, Host: "mx.a.example", ExpectedIssuer: "CN=Issuing CA 1, O=Test PKI"}, want: []audit.Verdict{audit.Valid}},
		{name: "issuer pin matches in OpenSSL format", in: Input{Chain: []*x509.Certificate{good, inter.Cert}, Host: "mx.a.example", ExpectedIssuer: "/O=Test PKI/CN=Issuing CA 1"}, want: []audit.Verdict{audit.Valid}},
		{name: "issuer changed", in: Input{Chain: []*x509.Certificate{good, inter.Cert}, Host: "mx.a.example", ExpectedIssuer: "CN=Issuing CA 2, O=Test PKI"}, want: []audit.Verdict{audit.IssuerChanged}, detail: "<I>CN=Issuing CA 1, O=Test PKI<S>CN=mx.a.example"},
		{name: "connector pin", in: Input{Chain: []*x509.Certificate{good, inter.Cert}, Host: "mx.a.example", ExpectedIssuer: "<I>CN=Issuing CA 1, O=Test PKI<S>CN=mx.b.example"}, want: []audit.Verdict{audit.IssuerChanged}, detail: "subject"},
		{name: "issuer is not a CA", in: Input{Chain: []*x509.Certificate{byLeaf, notCA.Cert, inter.Cert}, Host: "mx.a.example"}, want: []audit.Verdict{audit.InvalidChain}},
		{name: "bad signature", in: Input{Chain: []*x509.Certificate{tampered, inter.Cert}, Host: "mx.a.example"}, want: []audit.Verdict{audit.InvalidChain}},
		{name: "no certificate", in: Input{Host: "mx.a.example"}, want: []audit.Verdict{audit.HandshakeFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roots := tt.roots
			if roots == nil {
				roots = pool
			}
			o := Verify(tt.in, Options{Roots: roots, Source: source, Now: now})
			if !slices.Equal(o.Verdicts, tt.want) {
				t.Fatalf("verdicts %v, want %v; details %v", o.Verdicts, tt.want, o.Details)
			}
			if tt.rootSource != "" && o.Root.Source != tt.rootSource {
				t.Errorf("root source %q, want %q (%+v)", o.Root.Source, tt.rootSource, o.Root)
			}
			if tt.detail != "" && !strings.Contains(o.Details[o.Primary()], tt.detail) {
				t.Errorf("detail %q does not mention %q", o.Details[o.Primary()], tt.detail)
			}
		})
	}
}

func TestVerifyReportsPathAndRoot(t *testing.T) {
	root := must(fleet.NewRoot(caSpec("Public Root")))
	inter := must(root.SubCA(caSpec("Issuing CA 1")))
	l := must(inter.Issue(spec("mx.a.example"))).Cert
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	o := Verify(Input{Chain: []*x509.Certificate{l, inter.Cert}, Host: "mx.a.example"}, Options{Roots: pool, Now: now})
	if len(o.Path) != 3 || !o.Path[2].Equal(root.Cert) {
		t.Fatalf("path %d certs", len(o.Path))
	}
	if o.Root.Source != audit.RootSystem || o.Root.Subject != root.Cert.Subject.String() || !o.Root.NotAfter.Equal(root.Cert.NotAfter) || o.Root.SHA256 == "" {
		t.Errorf("root %+v", o.Root)
	}
}
