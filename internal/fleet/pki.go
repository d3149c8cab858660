package fleet

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
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

// CertSpec describes a certificate to issue.
type CertSpec struct {
	CommonName string
	DNSNames   []string
	Org        string
	NotBefore  time.Time
	NotAfter   time.Time
	IsCA       bool
	RSABits    int                     // RSA key of this size instead of ECDSA P-256
	SigAlg     x509.SignatureAlgorithm // e.g. x509.SHA1WithRSA; default chosen by Go
	ExtKeyUse  []x509.ExtKeyUsage      // default serverAuth (none for CAs)
	CRLURL     string
	OCSPURL    string
	IssuerURL  string
}

var serial atomic.Int64

func newKey(rsaBits int) (crypto.Signer, error) {
	if rsaBits > 0 {
		return rsa.GenerateKey(rand.Reader, rsaBits)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

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
	key, err := newKey(spec.RSABits)
	if err != nil {
		return nil, err
	}
	c, err := create(spec, key, ca.Cert, ca.Key)
	if err != nil {
		return nil, err
	}
	return &Issued{Cert: c, Key: key}, nil
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
	key, err := newKey(spec.RSABits)
	if err != nil {
		return nil, err
	}
	c, err := create(spec, key, nil, key)
	if err != nil {
		return nil, err
	}
	return &Issued{Cert: c, Key: key}, nil
}

func create(spec CertSpec, key crypto.Signer, parent *x509.Certificate, signer crypto.Signer) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1000 + serial.Add(1)),
		Subject:               pkix.Name{CommonName: spec.CommonName},
		DNSNames:              spec.DNSNames,
		NotBefore:             spec.NotBefore,
		NotAfter:              spec.NotAfter,
		BasicConstraintsValid: true,
		IsCA:                  spec.IsCA,
		SignatureAlgorithm:    spec.SigAlg,
	}
	if spec.Org != "" {
		tmpl.Subject.Organization = []string{spec.Org}
	}
	if spec.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if _, ok := key.(*rsa.PrivateKey); ok {
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
		tmpl.ExtKeyUsage = spec.ExtKeyUse
		if tmpl.ExtKeyUsage == nil {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}
	}
	if spec.CRLURL != "" {
		tmpl.CRLDistributionPoints = []string{spec.CRLURL}
	}
	if spec.OCSPURL != "" {
		tmpl.OCSPServer = []string{spec.OCSPURL}
	}
	if spec.IssuerURL != "" {
		tmpl.IssuingCertificateURL = []string{spec.IssuerURL}
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("fleet: issue %q: %w", spec.CommonName, err)
	}
	return x509.ParseCertificate(der)
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
