package fleet

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync/atomic"
	"time"
)

// CA is a generated certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Issued is a generated certificate with its key and the chain a server sends.
type Issued struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// CertSpec describes a certificate to generate: the project's one certificate
// factory (NewRoot, CA.SubCA, CA.Issue, SelfSigned) reads it. Only NotBefore and
// NotAfter are required; every other field has the default a real PKI would use.
type CertSpec struct {
	CommonName string    // the subject's CN (and the shorthand most callers need)
	Org        string    // the subject's O
	Subject    pkix.Name // the whole subject; CommonName and Org, when set, replace its CN and O
	DNSNames   []string
	IPs        []net.IP
	NotBefore  time.Time
	NotAfter   time.Time
	Serial     *big.Int // default: a serial no other certificate of this process has

	// The subject key: Key when set (a renewal, a re-issued root), else a new
	// RSA key of RSABits bits, else a new ECDSA key on Curve (default P-256).
	Key     crypto.Signer
	RSABits int
	Curve   elliptic.Curve

	// SigAlg is the issuer's signature algorithm (default: Go's choice for the
	// issuer's key). SHA-1 and MD5 algorithms are signed by the factory itself,
	// since crypto/x509 refuses (MD5) or may refuse (SHA-1) to sign with them.
	SigAlg x509.SignatureAlgorithm

	IsCA               bool
	NoBasicConstraints bool // omit basicConstraints altogether (a leaf then carries no CA:FALSE)
	MaxPathLen         int  // a CA's pathLenConstraint; 0 means none unless MaxPathLenZero
	MaxPathLenZero     bool // a CA with pathLenConstraint 0: it may sign only leaves
	// KeyUsage defaults to certSign|crlSign for a CA, else digitalSignature
	// (and keyEncipherment for an RSA key).
	KeyUsage x509.KeyUsage
	// ExtKeyUse defaults to serverAuth for a leaf and to none for a CA; a
	// non-nil empty slice gives a leaf no extendedKeyUsage extension.
	ExtKeyUse []x509.ExtKeyUsage

	PermittedDNSDomains []string // name constraints (critical), for a CA
	ExcludedDNSDomains  []string

	CRLURLs    []string // CRL distribution points
	OCSPURLs   []string // AIA OCSP responders
	IssuerURLs []string // AIA caIssuers: where the issuer's certificate is published
}

var serial atomic.Int64

// NewRoot generates a self-signed root CA.
func NewRoot(spec CertSpec) (*CA, error) {
	spec.IsCA = true
	is, err := SelfSigned(spec)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: is.Cert, Key: is.Key}, nil
}

// Issue signs a new certificate for spec with ca.
func (ca *CA) Issue(spec CertSpec) (*Issued, error) {
	return create(spec, ca.Cert, ca.Key)
}

// SubCA signs a new intermediate CA with ca.
func (ca *CA) SubCA(spec CertSpec) (*CA, error) {
	spec.IsCA = true
	is, err := ca.Issue(spec)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: is.Cert, Key: is.Key}, nil
}

// SelfSigned generates a self-signed certificate (an end-entity one unless spec.IsCA).
func SelfSigned(spec CertSpec) (*Issued, error) {
	return create(spec, nil, nil)
}

// AsCA returns the issued certificate as a CA that signs with its key, for
// chains in which a certificate that is not a CA signs another.
func (is *Issued) AsCA() *CA { return &CA{Cert: is.Cert, Key: is.Key} }

// create generates the certificate spec describes, signed by parent's
// signer, or self-signed when parent is nil.
func create(spec CertSpec, parent *x509.Certificate, signer crypto.Signer) (*Issued, error) {
	fail := func(err error) (*Issued, error) {
		return nil, fmt.Errorf("fleet: certificate %q: %w", cmp.Or(spec.CommonName, spec.Subject.CommonName), err)
	}
	if spec.NotBefore.IsZero() || spec.NotAfter.IsZero() {
		return fail(errors.New("NotBefore and NotAfter are required"))
	}
	key := spec.Key
	if key == nil {
		var err error
		if key, err = newKey(spec); err != nil {
			return fail(err)
		}
	}
	tmpl := template(spec, key)
	if parent == nil {
		parent, signer = tmpl, key
	}
	_, weak := weakAlgs[spec.SigAlg]
	if weak {
		tmpl.SignatureAlgorithm = 0 // Go's choice for the key, then signed again by resign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return fail(err)
	}
	if weak {
		if der, err = resign(der, spec.SigAlg, signer); err != nil {
			return fail(err)
		}
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return fail(err)
	}
	return &Issued{Cert: c, Key: key}, nil
}

func newKey(spec CertSpec) (crypto.Signer, error) {
	if spec.RSABits > 0 {
		return rsa.GenerateKey(rand.Reader, spec.RSABits)
	}
	curve := spec.Curve
	if curve == nil {
		curve = elliptic.P256()
	}
	return ecdsa.GenerateKey(curve, rand.Reader)
}

// template turns spec into the x509 template, with the defaults CertSpec documents.
func template(spec CertSpec, key crypto.Signer) *x509.Certificate {
	sn := spec.Serial
	if sn == nil {
		sn = big.NewInt(1000 + serial.Add(1))
	}
	subject := spec.Subject
	if spec.CommonName != "" {
		subject.CommonName = spec.CommonName
	}
	if spec.Org != "" {
		subject.Organization = []string{spec.Org}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               subject,
		DNSNames:              spec.DNSNames,
		IPAddresses:           spec.IPs,
		NotBefore:             spec.NotBefore,
		NotAfter:              spec.NotAfter,
		BasicConstraintsValid: !spec.NoBasicConstraints,
		IsCA:                  spec.IsCA,
		MaxPathLen:            spec.MaxPathLen,
		MaxPathLenZero:        spec.MaxPathLenZero,
		SignatureAlgorithm:    spec.SigAlg,
		KeyUsage:              spec.KeyUsage,
		ExtKeyUsage:           spec.ExtKeyUse,
		PermittedDNSDomains:   spec.PermittedDNSDomains,
		ExcludedDNSDomains:    spec.ExcludedDNSDomains,
		CRLDistributionPoints: spec.CRLURLs,
		OCSPServer:            spec.OCSPURLs,
		IssuingCertificateURL: spec.IssuerURLs,
	}
	tmpl.PermittedDNSDomainsCritical = len(spec.PermittedDNSDomains)+len(spec.ExcludedDNSDomains) > 0
	if tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if spec.IsCA {
			tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		} else if _, ok := key.(*rsa.PrivateKey); ok {
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
	}
	if tmpl.ExtKeyUsage == nil && !spec.IsCA {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	return tmpl
}

// TLSCert returns the tls.Certificate a server presents: is and then chain (intermediates, maybe a root).
func (is *Issued) TLSCert(chain ...*x509.Certificate) tls.Certificate {
	tc := tls.Certificate{Certificate: [][]byte{is.Cert.Raw}, PrivateKey: is.Key, Leaf: is.Cert}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc
}

// PEM encodes certificates as PEM.
func PEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}
