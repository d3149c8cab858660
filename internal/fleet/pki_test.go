package fleet

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// pkiNow is the fixed clock of the factory's tests.
var pkiNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func validity(s CertSpec) CertSpec {
	s.NotBefore, s.NotAfter = pkiNow.Add(-24*time.Hour), pkiNow.Add(90*24*time.Hour)
	return s
}

// checkWeakSignature verifies c's SHA-1 or MD5 signature by issuer's public
// key by hand: crypto/x509 no longer verifies these.
func checkWeakSignature(t *testing.T, c *x509.Certificate, issuer crypto.PublicKey, h crypto.Hash) {
	t.Helper()
	d := h.New()
	d.Write(c.RawTBSCertificate)
	switch k := issuer.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, h, d.Sum(nil), c.Signature); err != nil {
			t.Errorf("%v signature does not verify: %v", c.SignatureAlgorithm, err)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, d.Sum(nil), c.Signature) {
			t.Errorf("%v signature does not verify", c.SignatureAlgorithm)
		}
	default:
		t.Fatalf("issuer key %T", issuer)
	}
	// The TBS certificate names the same algorithm as the outer one (RFC 5280 4.1.1.2):
	// version, serial, then the signature field.
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(c.RawTBSCertificate, &seq); err != nil {
		t.Fatal(err)
	}
	var f [3]asn1.RawValue
	rest := seq.Bytes
	for i := range f {
		var err error
		if rest, err = asn1.Unmarshal(rest, &f[i]); err != nil {
			t.Fatal(err)
		}
	}
	var id pkix.AlgorithmIdentifier
	if _, err := asn1.Unmarshal(f[2].FullBytes, &id); err != nil || !id.Algorithm.Equal(weakAlgs[c.SignatureAlgorithm].id.Algorithm) {
		t.Errorf("TBS signature field = %v (%v), want %v", id.Algorithm, err, weakAlgs[c.SignatureAlgorithm].id.Algorithm)
	}
}

func TestFactory(t *testing.T) {
	ecRoot, err := NewRoot(validity(CertSpec{CommonName: "EC Root", Org: "Factory Test"}))
	if err != nil {
		t.Fatal(err)
	}
	rsaRoot, err := NewRoot(validity(CertSpec{CommonName: "RSA Root", RSABits: 2048}))
	if err != nil {
		t.Fatal(err)
	}
	reused, err := SelfSigned(validity(CertSpec{CommonName: "key owner"}))
	if err != nil {
		t.Fatal(err)
	}
	oidEmail := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	tests := []struct {
		name    string
		issuer  *CA // nil: self-signed
		spec    CertSpec
		wantErr string
		check   func(t *testing.T, c *x509.Certificate, is *Issued)
	}{
		{name: "leaf defaults", issuer: ecRoot, spec: validity(CertSpec{CommonName: "mx.a.example", DNSNames: []string{"mx.a.example"}}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				k, ok := c.PublicKey.(*ecdsa.PublicKey)
				if !ok || k.Curve != elliptic.P256() {
					t.Errorf("key %T, want ECDSA P-256", c.PublicKey)
				}
				if !c.BasicConstraintsValid || c.IsCA {
					t.Error("want basicConstraints CA:FALSE")
				}
				if c.KeyUsage != x509.KeyUsageDigitalSignature || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
					t.Errorf("usage %v %v, want digitalSignature and serverAuth", c.KeyUsage, c.ExtKeyUsage)
				}
				if !c.NotBefore.Equal(pkiNow.Add(-24*time.Hour)) || !c.NotAfter.Equal(pkiNow.Add(90*24*time.Hour)) {
					t.Errorf("validity %v to %v", c.NotBefore, c.NotAfter)
				}
				if err := c.CheckSignatureFrom(ecRoot.Cert); err != nil {
					t.Errorf("not signed by its issuer: %v", err)
				}
				if c.Subject.CommonName != "mx.a.example" || c.Issuer.CommonName != "EC Root" || c.SerialNumber.Sign() <= 0 ||
					c.SignatureAlgorithm != x509.ECDSAWithSHA256 || len(c.OCSPServer)+len(c.CRLDistributionPoints)+len(c.IssuingCertificateURL) != 0 {
					t.Errorf("subject %q issuer %q serial %v alg %v", c.Subject, c.Issuer, c.SerialNumber, c.SignatureAlgorithm)
				}
			}},
		{name: "RSA 2048 leaf", issuer: ecRoot, spec: validity(CertSpec{CommonName: "mx.rsa.example", RSABits: 2048}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if k, ok := c.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
					t.Errorf("key %T, want RSA 2048", c.PublicKey)
				}
				if c.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
					t.Errorf("key usage %v, want keyEncipherment too", c.KeyUsage)
				}
			}},
		{name: "P-384 key", issuer: rsaRoot, spec: validity(CertSpec{CommonName: "mx.p384.example", Curve: elliptic.P384()}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if k, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P384() {
					t.Errorf("key %T, want P-384", c.PublicKey)
				}
				if c.SignatureAlgorithm != x509.SHA256WithRSA {
					t.Errorf("signature %v, want SHA256-RSA of the RSA issuer", c.SignatureAlgorithm)
				}
			}},
		{name: "given key", issuer: ecRoot, spec: validity(CertSpec{CommonName: "renewal", Key: reused.Key}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if !reused.Cert.PublicKey.(*ecdsa.PublicKey).Equal(c.PublicKey) || is.Key != reused.Key {
					t.Error("the certificate does not carry the given key")
				}
			}},
		{name: "whole subject", issuer: ecRoot, spec: validity(CertSpec{CommonName: "mail.contoso.com", Subject: pkix.Name{
			Country: []string{"US"}, Province: []string{"WA"}, CommonName: "replaced", Organization: []string{"kept"},
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidEmail, Value: "pki@contoso.com"}}}}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if got := c.Subject.String(); got != "CN=mail.contoso.com,O=kept,ST=WA,C=US,1.2.840.113549.1.9.1=#0c0f706b6940636f6e746f736f2e636f6d" {
					t.Errorf("subject %s", got)
				}
			}},
		{name: "SHA-1 RSA", issuer: rsaRoot, spec: validity(CertSpec{CommonName: "mx.sha1.example", SigAlg: x509.SHA1WithRSA}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if c.SignatureAlgorithm != x509.SHA1WithRSA {
					t.Fatalf("signature %v", c.SignatureAlgorithm)
				}
				checkWeakSignature(t, c, rsaRoot.Cert.PublicKey, crypto.SHA1)
			}},
		{name: "SHA-1 ECDSA intermediate", issuer: ecRoot, spec: validity(CertSpec{CommonName: "Legacy CA", IsCA: true, SigAlg: x509.ECDSAWithSHA1}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if c.SignatureAlgorithm != x509.ECDSAWithSHA1 || !c.IsCA {
					t.Fatalf("signature %v, CA %v", c.SignatureAlgorithm, c.IsCA)
				}
				checkWeakSignature(t, c, ecRoot.Cert.PublicKey, crypto.SHA1)
			}},
		{name: "MD5 RSA", issuer: rsaRoot, spec: validity(CertSpec{CommonName: "mx.md5.example", SigAlg: x509.MD5WithRSA}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if c.SignatureAlgorithm != x509.MD5WithRSA {
					t.Fatalf("signature %v", c.SignatureAlgorithm)
				}
				checkWeakSignature(t, c, rsaRoot.Cert.PublicKey, crypto.MD5)
			}},
		{name: "self-signed SHA-1", spec: validity(CertSpec{CommonName: "old.example", RSABits: 2048, SigAlg: x509.SHA1WithRSA}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				checkWeakSignature(t, c, c.PublicKey, crypto.SHA1)
			}},
		{name: "MD5 needs an RSA issuer", issuer: ecRoot, spec: validity(CertSpec{CommonName: "mx.md5.example", SigAlg: x509.MD5WithRSA}),
			wantErr: `fleet: certificate "mx.md5.example": MD5-RSA needs an issuer key of that type`},
		{name: "dates required", issuer: ecRoot, spec: CertSpec{CommonName: "undated"},
			wantErr: `fleet: certificate "undated": NotBefore and NotAfter are required`},
		{name: "client auth only", issuer: ecRoot, spec: validity(CertSpec{CommonName: "client", ExtKeyUse: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
					t.Errorf("EKU %v", c.ExtKeyUsage)
				}
			}},
		{name: "no EKU", issuer: ecRoot, spec: validity(CertSpec{CommonName: "any", ExtKeyUse: []x509.ExtKeyUsage{}}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if len(c.ExtKeyUsage) != 0 || hasExtension(c, 2, 5, 29, 37) {
					t.Errorf("EKU %v, want no extension", c.ExtKeyUsage)
				}
			}},
		{name: "no basic constraints", spec: validity(CertSpec{CommonName: "v1 style", NoBasicConstraints: true}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if c.BasicConstraintsValid || hasExtension(c, 2, 5, 29, 19) {
					t.Error("basicConstraints present")
				}
			}},
		{name: "CA with path length 0", issuer: ecRoot, spec: validity(CertSpec{CommonName: "Issuing CA", IsCA: true, MaxPathLenZero: true}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero || c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign || c.ExtKeyUsage != nil {
					t.Errorf("CA %v pathlen %d zero %v usage %v %v", c.IsCA, c.MaxPathLen, c.MaxPathLenZero, c.KeyUsage, c.ExtKeyUsage)
				}
			}},
		{name: "CA with path length 2", issuer: ecRoot, spec: validity(CertSpec{CommonName: "Policy CA", IsCA: true, MaxPathLen: 2}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if c.MaxPathLen != 2 {
					t.Errorf("pathlen %d", c.MaxPathLen)
				}
			}},
		{name: "CA without path length", issuer: ecRoot, spec: validity(CertSpec{CommonName: "Open CA", IsCA: true}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if c.MaxPathLen != -1 {
					t.Errorf("pathlen %d, want none (-1)", c.MaxPathLen)
				}
			}},
		{name: "name constraints", issuer: ecRoot, spec: validity(CertSpec{CommonName: "Constrained CA", IsCA: true,
			PermittedDNSDomains: []string{"a.example"}, ExcludedDNSDomains: []string{"bad.a.example"}}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if !slices.Equal(c.PermittedDNSDomains, []string{"a.example"}) || !slices.Equal(c.ExcludedDNSDomains, []string{"bad.a.example"}) || !c.PermittedDNSDomainsCritical {
					t.Errorf("constraints %v %v critical %v", c.PermittedDNSDomains, c.ExcludedDNSDomains, c.PermittedDNSDomainsCritical)
				}
			}},
		{name: "URLs, serial, addresses and usage", issuer: ecRoot, spec: validity(CertSpec{CommonName: "localhost", Serial: big.NewInt(77),
			IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			CRLURLs: []string{"ldap:///CN=x", "http://127.0.0.1/crl"}, OCSPURLs: []string{"http://127.0.0.1/ocsp"}, IssuerURLs: []string{"http://127.0.0.1/ca.cer"}}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if c.SerialNumber.Int64() != 77 || len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) ||
					c.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageCertSign {
					t.Errorf("serial %v IPs %v usage %v", c.SerialNumber, c.IPAddresses, c.KeyUsage)
				}
				if len(c.CRLDistributionPoints) != 2 || c.CRLDistributionPoints[1] != "http://127.0.0.1/crl" ||
					!slices.Equal(c.OCSPServer, []string{"http://127.0.0.1/ocsp"}) || !slices.Equal(c.IssuingCertificateURL, []string{"http://127.0.0.1/ca.cer"}) {
					t.Errorf("CRL %v OCSP %v AIA %v", c.CRLDistributionPoints, c.OCSPServer, c.IssuingCertificateURL)
				}
			}},
		{name: "self-signed leaf", spec: validity(CertSpec{CommonName: "self.example"}),
			check: func(t *testing.T, c *x509.Certificate, is *Issued) {
				if !bytes.Equal(c.RawIssuer, c.RawSubject) || c.CheckSignatureFrom(c) == nil || c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) != nil {
					t.Error("want a self-signed certificate that is not a CA")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var is *Issued
			var err error
			if tt.issuer != nil {
				is, err = tt.issuer.Issue(tt.spec)
			} else {
				is, err = SelfSigned(tt.spec)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !is.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(is.Cert.PublicKey) {
				t.Error("Issued.Key is not the certificate's key")
			}
			tt.check(t, is.Cert, is)
		})
	}
}

// TestFactorySerials checks that certificates get distinct serials unless one is given.
func TestFactorySerials(t *testing.T) {
	seen := map[string]bool{}
	for i := range 20 {
		is, err := SelfSigned(validity(CertSpec{CommonName: "s"}))
		if err != nil {
			t.Fatal(err)
		}
		if s := is.Cert.SerialNumber.String(); seen[s] {
			t.Fatalf("serial %s repeated at %d", s, i)
		} else {
			seen[s] = true
		}
	}
}

func hasExtension(c *x509.Certificate, oid ...int) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier(oid)) {
			return true
		}
	}
	return false
}

// BenchmarkIssue measures one certificate from the factory: what every test's PKI costs.
func BenchmarkIssue(b *testing.B) {
	ca, err := NewRoot(validity(CertSpec{CommonName: "Bench Root", RSABits: 2048}))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		spec CertSpec
	}{
		{"ecdsa-p256", CertSpec{CommonName: "mx.bench.example"}},
		{"rsa-2048", CertSpec{CommonName: "mx.bench.example", RSABits: 2048}},
		{"sha1-rsa-resigned", CertSpec{CommonName: "mx.bench.example", SigAlg: x509.SHA1WithRSA}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := ca.Issue(validity(bc.spec)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
