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
		detail     string            // a word the primary verdict's detail must contain
		th         *audit.Thresholds // nil: the zero value, meaning the defaults
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
		{name: "weak key", in: Input{Chain: []*x509.Certificate{leaf(inter, rsa1024), inter.Cert}, Host: "mx.a.example"}, want: []audit.Verdict{audit.WeakKey}, detail: "RSA key of the leaf is 1024 bits, below the minimum of 2048"},
		{name: "min_rsa_bits 1024 accepts it", in: Input{Chain: []*x509.Certificate{leaf(inter, rsa1024), inter.Cert}, Host: "mx.a.example"}, want: []audit.Verdict{audit.Valid},
			th: &audit.Thresholds{MinRSABits: 1024, MinECBits: 256, ExpiryWarningDays: 30, ExpiryErrorDays: 7, RootExpiringDays: 90}},
		{name: "min_ec_bits 384 refuses P-256", in: Input{Chain: []*x509.Certificate{good, inter.Cert}, Host: "mx.a.example"}, want: []audit.Verdict{audit.WeakKey}, detail: "ECDSA key of the leaf is 256 bits, below the minimum of 384",
			th: &audit.Thresholds{MinRSABits: 2048, MinECBits: 384, ExpiryWarningDays: 30, ExpiryErrorDays: 7, RootExpiringDays: 90}},
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
			opts := Options{Roots: roots, StoreOf: source, Now: now}
			if tt.th != nil {
				opts.Thresholds = *tt.th
			}
			o := Verify(tt.in, opts)
			if !slices.Equal(o.Verdicts, tt.want) {
				t.Fatalf("verdicts %v, want %v; details %v", o.Verdicts, tt.want, o.Details)
			}
			if tt.rootSource != "" && o.Root.Store != tt.rootSource {
				t.Errorf("root source %q, want %q (%+v)", o.Root.Store, tt.rootSource, o.Root)
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
	if o.Root.Store != audit.RootSystem || o.Root.Subject != root.Cert.Subject.String() || !o.Root.NotAfter.Equal(root.Cert.NotAfter) || o.Root.SHA256 == "" {
		t.Errorf("root %+v", o.Root)
	}
}

// privateCA is what openssl-made private CAs look like from outside: a root
// nobody sends, an intermediate every OpenSSL/GnuTLS MTA sends with its leaf.
type privateCA struct {
	root, inter *fleet.CA
}

func newPrivateCA(t *testing.T, name string) privateCA {
	t.Helper()
	root := must(fleet.NewRoot(caSpec(name + " Root CA")))
	return privateCA{root: root, inter: must(root.SubCA(caSpec(name + " Issuing CA")))}
}

// Issue 10, items 2 and 3: without the partner's root, a chain of leaf and
// intermediate is a PartialChain of the missing-root case, and every other
// defect of the sent chain is still named.
func TestVerifyWithoutRoot(t *testing.T) {
	pki := newPrivateCA(t, "Contoso")
	leaf := func(s fleet.CertSpec) *x509.Certificate { return must(pki.inter.Issue(s)).Cert }
	clientAuth := spec("mx.a.example")
	clientAuth.ExtKeyUse = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	expired := spec("mx.a.example")
	expired.NotBefore, expired.NotAfter = now.Add(-day(1500)), now.Add(-day(1062))
	sha1 := spec("mx.a.example")
	sha1.SigAlg = x509.ECDSAWithSHA1
	notCA := must(pki.inter.Issue(spec("not-a-ca.example")))
	byNotCA := must((&fleet.CA{Cert: notCA.Cert, Key: notCA.Key}).Issue(spec("mx.a.example"))).Cert
	tampered := must(x509.ParseCertificate(leaf(spec("mx.a.example")).Raw))
	tampered.Signature = slices.Clone(tampered.Signature)
	tampered.Signature[len(tampered.Signature)-3] ^= 0xff
	good := leaf(spec("mx.a.example"))

	empty := x509.NewCertPool()
	imported := x509.NewCertPool()
	imported.AddCert(pki.root.Cert)
	rootName := pki.root.Cert.Subject.String()

	tests := []struct {
		name   string
		chain  []*x509.Certificate
		roots  *x509.CertPool
		want   []audit.Verdict
		cse    audit.Case // PartialChain's case
		detail map[audit.Verdict]string
	}{
		{name: "leaf and intermediate, root not imported", chain: []*x509.Certificate{good, pki.inter.Cert}, roots: empty,
			want: []audit.Verdict{audit.PartialChain}, cse: audit.CaseMissingRoot,
			detail: map[audit.Verdict]string{audit.PartialChain: "most likely the partner's root CA"}},
		{name: "leaf and intermediate, root imported", chain: []*x509.Certificate{good, pki.inter.Cert}, roots: imported,
			want: []audit.Verdict{audit.Valid}},
		{name: "leaf alone", chain: []*x509.Certificate{good}, roots: imported,
			want: []audit.Verdict{audit.PartialChain}, cse: audit.CaseMissingIntermediate,
			detail: map[audit.Verdict]string{audit.PartialChain: "intermediate CA is missing"}},
		{name: "client auth only, root not imported", chain: []*x509.Certificate{leaf(clientAuth), pki.inter.Cert}, roots: empty,
			want: []audit.Verdict{audit.PartialChain, audit.WrongUsage}, cse: audit.CaseMissingRoot,
			detail: map[audit.Verdict]string{audit.WrongUsage: "clientAuth"}},
		{name: "intermediate CA:FALSE, root not imported", chain: []*x509.Certificate{byNotCA, notCA.Cert, pki.inter.Cert}, roots: empty,
			want: []audit.Verdict{audit.PartialChain, audit.InvalidChain}, cse: audit.CaseMissingRoot,
			detail: map[audit.Verdict]string{audit.InvalidChain: "CA:FALSE"}},
		{name: "intermediate CA:FALSE, root imported", chain: []*x509.Certificate{byNotCA, notCA.Cert, pki.inter.Cert}, roots: imported,
			want: []audit.Verdict{audit.InvalidChain}, detail: map[audit.Verdict]string{audit.InvalidChain: "CN=not-a-ca.example"}},
		{name: "expired leaf, root not imported", chain: []*x509.Certificate{leaf(expired), pki.inter.Cert}, roots: empty,
			want: []audit.Verdict{audit.Expired, audit.PartialChain}, cse: audit.CaseMissingRoot},
		{name: "SHA-1 leaf, root not imported", chain: []*x509.Certificate{leaf(sha1), pki.inter.Cert}, roots: empty,
			want: []audit.Verdict{audit.PartialChain, audit.WeakSignature}, cse: audit.CaseMissingRoot,
			detail: map[audit.Verdict]string{audit.WeakSignature: "reaches no trusted root"}},
		{name: "bad signature, root not imported", chain: []*x509.Certificate{tampered, pki.inter.Cert}, roots: empty,
			want: []audit.Verdict{audit.PartialChain, audit.InvalidChain}, cse: audit.CaseMissingRoot,
			detail: map[audit.Verdict]string{audit.InvalidChain: "does not verify"}},
		{name: "bad signature, root imported", chain: []*x509.Certificate{tampered, pki.inter.Cert}, roots: imported,
			want: []audit.Verdict{audit.InvalidChain}, detail: map[audit.Verdict]string{audit.InvalidChain: "NotSignatureValid"}},
		{name: "everything at once", chain: []*x509.Certificate{leaf(func() fleet.CertSpec {
			s := expired
			s.DNSNames, s.CommonName = []string{"mail.other.example"}, "mail.other.example"
			s.ExtKeyUse, s.SigAlg = clientAuth.ExtKeyUse, x509.ECDSAWithSHA1
			return s
		}()), pki.inter.Cert}, roots: empty,
			want: []audit.Verdict{audit.Expired, audit.PartialChain, audit.WrongUsage, audit.NameMismatch, audit.WeakSignature}, cse: audit.CaseMissingRoot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Verify(Input{Chain: tt.chain, Host: "mx.a.example"}, Options{Roots: tt.roots, Now: now})
			if !slices.Equal(o.Verdicts, tt.want) {
				t.Fatalf("verdicts %v, want %v; details %v", o.Verdicts, tt.want, o.Details)
			}
			if got := o.Cases[audit.PartialChain]; got != tt.cse {
				t.Errorf("PartialChain case %q, want %q", got, tt.cse)
			}
			if tt.cse == audit.CaseMissingRoot {
				if o.Root.Subject != rootName || !strings.Contains(o.Details[audit.PartialChain], "Contoso Root CA") {
					t.Errorf("the missing root is not named: root %+v, detail %q", o.Root, o.Details[audit.PartialChain])
				}
				if strings.Contains(o.Details[audit.PartialChain], "intermediate") {
					t.Errorf("the missing root is called an intermediate: %q", o.Details[audit.PartialChain])
				}
			}
			for v, w := range tt.detail {
				if !strings.Contains(o.Details[v], w) {
					t.Errorf("detail of %s %q does not say %q", v, o.Details[v], w)
				}
			}
			if tt.want[0] != audit.Valid && o.Path != nil && slices.Contains(o.Verdicts, audit.InvalidChain) {
				t.Errorf("a broken chain has a verified path")
			}
		})
	}
}

// Issue 10, item 6: SHA-1 is an error under a public root (Windows and Go
// refuse it) and a warning under an imported private root (Windows accepts
// it there), also when the SHA-1 link is to a root that was not sent.
func TestVerifyWeakSignatureByRoot(t *testing.T) {
	public := must(fleet.NewRoot(caSpec("Public Root")))
	private := must(fleet.NewRoot(caSpec("Private Root")))
	sha1CA := func(root *fleet.CA, cn string) *fleet.CA {
		s := caSpec(cn)
		s.SigAlg = x509.ECDSAWithSHA1
		return must(root.SubCA(s))
	}
	pubInter, privInter := sha1CA(public, "Public SHA-1 CA"), sha1CA(private, "Private SHA-1 CA")
	sha1Leaf := spec("mx.a.example")
	sha1Leaf.SigAlg = x509.ECDSAWithSHA1
	pubGoodInter := must(public.SubCA(caSpec("Public Issuing CA")))

	pool := x509.NewCertPool()
	pool.AddCert(public.Cert)
	pool.AddCert(private.Cert)
	source := func(c *x509.Certificate) (string, string) {
		if c.Equal(private.Cert) {
			return audit.RootPrivate, "private.cer"
		}
		return audit.RootSystem, ""
	}
	tests := []struct {
		name     string
		chain    []*x509.Certificate
		anchors  []*x509.Certificate
		source   string
		enforced bool
		severity audit.Severity
		detail   string
	}{
		{name: "SHA-1 leaf under a public root", chain: []*x509.Certificate{must(pubGoodInter.Issue(sha1Leaf)).Cert, pubGoodInter.Cert},
			source: audit.RootSystem, severity: audit.Error, detail: "public root"},
		{name: "SHA-1 leaf under a public root, enforced", chain: []*x509.Certificate{must(pubGoodInter.Issue(sha1Leaf)).Cert, pubGoodInter.Cert},
			source: audit.RootSystem, enforced: true, severity: audit.Critical, detail: "Microsoft Trusted Root Program"},
		{name: "SHA-1 intermediate under a private root", chain: []*x509.Certificate{must(privInter.Issue(spec("mx.a.example"))).Cert, privInter.Cert},
			anchors: []*x509.Certificate{private.Cert}, source: audit.RootPrivate, severity: audit.Warning, detail: "imported private root"},
		{name: "SHA-1 intermediate under a private root, enforced", chain: []*x509.Certificate{must(privInter.Issue(spec("mx.a.example"))).Cert, privInter.Cert},
			anchors: []*x509.Certificate{private.Cert}, source: audit.RootPrivate, enforced: true, severity: audit.Warning, detail: "private.cer"},
		{name: "SHA-1 intermediate under a public root known by name only", chain: []*x509.Certificate{must(pubInter.Issue(spec("mx.a.example"))).Cert, pubInter.Cert},
			source: audit.RootSystem, severity: audit.Error, detail: "Go refuses"},
		{name: "SHA-1 leaf and intermediate, root not imported", chain: []*x509.Certificate{must(privInter.Issue(sha1Leaf)).Cert, privInter.Cert},
			source: audit.RootNone, severity: audit.Warning, detail: "reaches no trusted root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roots := pool
			if tt.source == audit.RootNone {
				roots = x509.NewCertPool()
			}
			o := Verify(Input{Chain: tt.chain, Host: "mx.a.example", Enforced: tt.enforced}, Options{Roots: roots, StoreOf: source, Anchors: tt.anchors, Now: now})
			want := []audit.Verdict{audit.WeakSignature}
			if tt.source == audit.RootNone {
				want = []audit.Verdict{audit.PartialChain, audit.WeakSignature}
			}
			if !slices.Equal(o.Verdicts, want) {
				t.Fatalf("verdicts %v, want %v; details %v", o.Verdicts, want, o.Details)
			}
			if o.Root.Store != tt.source {
				t.Errorf("root source %q, want %q", o.Root.Store, tt.source)
			}
			r := audit.Result{Partner: audit.Partner{Enforced: tt.enforced}, Verdicts: o.Verdicts, Root: o.Root}
			if got := r.VerdictSeverity(audit.WeakSignature); got != tt.severity {
				t.Errorf("severity %s, want %s", got, tt.severity)
			}
			if d := o.Details[audit.WeakSignature]; !strings.Contains(d, tt.detail) || !strings.Contains(d, "SHA1") {
				t.Errorf("detail %q does not say %q", d, tt.detail)
			}
		})
	}
	t.Run("SHA-1 leaf under an expired private root", func(t *testing.T) {
		s := caSpec("Expired Private Root")
		s.NotBefore, s.NotAfter = now.Add(-day(3000)), now.Add(-day(2))
		old := must(fleet.NewRoot(s))
		is := caSpec("Expired Root's CA")
		is.NotBefore = now.Add(-day(2000))
		inter := must(old.SubCA(is))
		roots := x509.NewCertPool()
		roots.AddCert(old.Cert)
		src := func(*x509.Certificate) (string, string) { return audit.RootPrivate, "old.cer" }
		o := Verify(Input{Chain: []*x509.Certificate{must(inter.Issue(sha1Leaf)).Cert, inter.Cert}, Host: "mx.a.example"},
			Options{Roots: roots, StoreOf: src, Anchors: []*x509.Certificate{old.Cert}, Now: now})
		if want := []audit.Verdict{audit.Expired, audit.WeakSignature}; !slices.Equal(o.Verdicts, want) || o.Root.Store != audit.RootPrivate {
			t.Errorf("verdicts %v root %+v, want %v under the private root; details %v", o.Verdicts, o.Root, want, o.Details)
		}
	})
}

// Issue 10, item 9: details are words, never crypto/x509's error strings,
// and IssuerChanged never asks to put the partner's issuer into a
// TlsCertificateName.
func TestVerifyWords(t *testing.T) {
	pki := newPrivateCA(t, "Fabrikam")
	other := must(fleet.NewRoot(caSpec("Unknown Root")))
	good := must(pki.inter.Issue(spec("mx.a.example", "a.example"))).Cert
	tampered := must(x509.ParseCertificate(good.Raw))
	tampered.Signature = slices.Clone(tampered.Signature)
	tampered.Signature[len(tampered.Signature)-3] ^= 0xff
	selfBad := must(fleet.SelfSigned(spec("mx.a.example"))).Cert
	selfBad = must(x509.ParseCertificate(selfBad.Raw))
	selfBad.Signature = slices.Clone(selfBad.Signature)
	selfBad.Signature[len(selfBad.Signature)-3] ^= 0xff
	pool := x509.NewCertPool()
	pool.AddCert(pki.root.Cert)
	tests := []struct {
		name  string
		in    Input
		roots *x509.CertPool
	}{
		{name: "bad signature", in: Input{Chain: []*x509.Certificate{tampered, pki.inter.Cert}}},
		{name: "bad self-signature", in: Input{Chain: []*x509.Certificate{selfBad}}},
		{name: "missing root", in: Input{Chain: []*x509.Certificate{good, pki.inter.Cert}}, roots: x509.NewCertPool()},
		{name: "untrusted root", in: Input{Chain: []*x509.Certificate{must(other.Issue(spec("mx.a.example"))).Cert, other.Cert}}},
		{name: "issuer changed", in: Input{Chain: []*x509.Certificate{good, pki.inter.Cert}, ExpectedIssuer: "CN=Old CA, O=Fabrikam"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Host = "mx.a.example"
			roots := cmpOr(tt.roots, pool)
			o := Verify(tt.in, Options{Roots: roots, Now: now})
			if o.Primary() == audit.Valid {
				t.Fatalf("no verdict: %v", o.Verdicts)
			}
			for v, d := range o.Details {
				for _, raw := range []string{"x509:", "crypto/", "possibly because", "TlsCertificateName"} {
					if strings.Contains(d, raw) {
						t.Errorf("detail of %s carries %q: %q", v, raw, d)
					}
				}
			}
		})
	}
	rem := audit.IssuerChanged.Remedy()
	if !strings.Contains(rem, "expected_issuer") || !strings.Contains(rem, "TlsDomain") || strings.Contains(rem, "<I>") {
		t.Errorf("IssuerChanged remedy %q", rem)
	}
}

func cmpOr(a, b *x509.CertPool) *x509.CertPool {
	if a != nil {
		return a
	}
	return b
}
