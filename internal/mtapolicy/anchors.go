package mtapolicy

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Anchors are the trust anchors of a Postfix tafile: certificates (roots or
// intermediates) and bare public keys, never checked for expiry.
type Anchors struct {
	Certs []*x509.Certificate
	Keys  []crypto.PublicKey
	spki  [][]byte // DER SubjectPublicKeyInfo of every cert and key
	Files []string // where they came from
}

// maxAnchorFile bounds a tafile read.
const maxAnchorFile = 1 << 20

// ParseAnchors reads PEM "CERTIFICATE", "TRUSTED CERTIFICATE" and "PUBLIC
// KEY" blocks, as Postfix's tafile loader does; file names it in errors.
func (a *Anchors) ParseAnchors(data []byte, file string) error {
	n := 0
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		switch block.Type {
		case "CERTIFICATE", "TRUSTED CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return fmt.Errorf("tafile %s: certificate %d: %w", file, n+1, err)
			}
			a.Certs = append(a.Certs, c)
			a.spki = append(a.spki, c.RawSubjectPublicKeyInfo)
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return fmt.Errorf("tafile %s: public key %d: %w", file, n+1, err)
			}
			a.Keys = append(a.Keys, k)
			a.spki = append(a.spki, block.Bytes)
		default:
			return fmt.Errorf("tafile %s: unexpected PEM block %q (only certificates and public keys)", file, block.Type)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("tafile %s: no PEM certificate or public key", file)
	}
	a.Files = append(a.Files, file)
	return nil
}

// LoadAnchors reads the tafiles at paths, each relative to root when root
// is not empty (a copy of /etc/postfix elsewhere), into one set of anchors.
func LoadAnchors(root string, paths []string) (*Anchors, error) {
	a := &Anchors{}
	for _, p := range paths {
		name := p
		if root != "" {
			name = filepath.Join(root, p)
		}
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("tafile: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(f, maxAnchorFile+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("tafile %s: %w", name, err)
		}
		if len(data) > maxAnchorFile {
			return nil, fmt.Errorf("tafile %s: larger than %d bytes", name, maxAnchorFile)
		}
		if err := a.ParseAnchors(data, p); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// errNoAnchor is why a chain is not accepted when no anchor is reached.
var errNoAnchor = errors.New("unable to get local issuer certificate: no trust anchor of the tafile in or above the chain")

// Accept checks a presented chain (leaf first) against the anchors the way
// Postfix's tafile trust works: an anchor may be any certificate of the
// chain or the issuer of one (a certificate or a bare key), anchors are
// not checked for expiry, untrusted parents above an anchor are ignored;
// every certificate below the anchor must be in its validity at now and
// signed by the next. It returns a description of the anchor reached.
func (a *Anchors) Accept(chain []*x509.Certificate, now time.Time) (string, error) {
	if a == nil || len(a.spki) == 0 {
		return "", errors.New("no trust anchors loaded")
	}
	if len(chain) == 0 {
		return "", errors.New("no certificate presented")
	}
	for i, c := range chain {
		if a.isAnchor(c) {
			return fmt.Sprintf("chain certificate %d (%s) is a trust anchor", i+1, c.Subject), nil
		}
		if now.After(c.NotAfter) {
			return "", fmt.Errorf("certificate has expired: %s (%s)", c.Subject, c.NotAfter.UTC().Format(time.DateOnly))
		}
		if now.Before(c.NotBefore) {
			return "", fmt.Errorf("certificate is not yet valid: %s", c.Subject)
		}
		if i > 0 && !(c.BasicConstraintsValid && c.IsCA) {
			return "", fmt.Errorf("invalid CA certificate: %s is not a CA", c.Subject)
		}
		if what, ok := a.signedByAnchor(c); ok {
			return what, nil
		}
		if i+1 == len(chain) {
			break
		}
		next := chain[i+1]
		if !bytes.Equal(c.RawIssuer, next.RawSubject) || c.CheckSignatureFrom(next) != nil {
			return "", fmt.Errorf("unable to get local issuer certificate: %s is not issued by the next certificate sent (%s) nor by a trust anchor", c.Subject, next.Subject)
		}
	}
	return "", errNoAnchor
}

func (a *Anchors) isAnchor(c *x509.Certificate) bool {
	for _, t := range a.Certs {
		if bytes.Equal(t.Raw, c.Raw) {
			return true
		}
	}
	for _, k := range a.spki[len(a.Certs):] {
		if bytes.Equal(k, c.RawSubjectPublicKeyInfo) {
			return true
		}
	}
	return false
}

func (a *Anchors) signedByAnchor(c *x509.Certificate) (string, bool) {
	for _, t := range a.Certs {
		if bytes.Equal(c.RawIssuer, t.RawSubject) && checkSignedBy(c, t.PublicKey) {
			return fmt.Sprintf("issued by the trust anchor %s", t.Subject), true
		}
	}
	for _, k := range a.Keys {
		if checkSignedBy(c, k) {
			return fmt.Sprintf("issued by a trust-anchor public key (%s)", c.Issuer), true
		}
	}
	return "", false
}

// checkSignedBy verifies c's signature with a bare public key; the anchor's
// own constraints and dates do not matter (Postfix: "not subject to expiration").
func checkSignedBy(c *x509.Certificate, key crypto.PublicKey) bool {
	parent := &x509.Certificate{PublicKey: key, BasicConstraintsValid: true, IsCA: true, Version: 3}
	switch key.(type) {
	case *rsa.PublicKey:
		parent.PublicKeyAlgorithm = x509.RSA
	case *ecdsa.PublicKey:
		parent.PublicKeyAlgorithm = x509.ECDSA
	case ed25519.PublicKey:
		parent.PublicKeyAlgorithm = x509.Ed25519
	default:
		return false
	}
	return c.CheckSignatureFrom(parent) == nil
}
