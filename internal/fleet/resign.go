package fleet

import (
	"crypto"
	_ "crypto/md5" // MD5 for the MD5WithRSA signatures resign makes
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// weakAlg is a signature algorithm crypto/x509 will not (or may stop to) sign
// with, and what resign needs to sign with it.
type weakAlg struct {
	hash crypto.Hash
	id   pkix.AlgorithmIdentifier
	rsa  bool // the signer must hold an RSA key, else an ECDSA key
}

var weakAlgs = map[x509.SignatureAlgorithm]weakAlg{
	x509.MD5WithRSA:    {crypto.MD5, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 4}, Parameters: asn1.NullRawValue}, true},
	x509.SHA1WithRSA:   {crypto.SHA1, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}, Parameters: asn1.NullRawValue}, true},
	x509.ECDSAWithSHA1: {crypto.SHA1, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}}, false},
}

// certificate is RFC 5280's Certificate with the TBS part kept as bytes.
type certificate struct {
	TBS    asn1.RawValue
	SigAlg pkix.AlgorithmIdentifier
	Sig    asn1.BitString
}

// resign signs the certificate der again with signer under alg, a SHA-1 or
// MD5 algorithm of weakAlgs: it writes alg into the TBS certificate's
// signature field and the outer one, hashes the TBS certificate and signs
// the hash, as a CA of the time did.
func resign(der []byte, alg x509.SignatureAlgorithm, signer crypto.Signer) ([]byte, error) {
	w := weakAlgs[alg]
	if _, isRSA := signer.Public().(*rsa.PublicKey); isRSA != w.rsa {
		return nil, fmt.Errorf("%v needs an issuer key of that type, not %T", alg, signer.Public())
	}
	var c certificate
	if rest, err := asn1.Unmarshal(der, &c); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("resign: certificate does not parse: %v", err)
	}
	tbs, err := withSigAlg(c.TBS.Bytes, w.id)
	if err != nil {
		return nil, err
	}
	h := w.hash.New()
	h.Write(tbs)
	sig, err := signer.Sign(rand.Reader, h.Sum(nil), w.hash)
	if err != nil {
		return nil, fmt.Errorf("resign: sign with %v: %w", alg, err)
	}
	return asn1.Marshal(certificate{TBS: asn1.RawValue{FullBytes: tbs}, SigAlg: w.id, Sig: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
}

// withSigAlg returns the TBS certificate whose content is body with its
// signature field (after the version and the serial) set to id.
func withSigAlg(body []byte, id pkix.AlgorithmIdentifier) ([]byte, error) {
	var fields []asn1.RawValue
	for rest := body; len(rest) > 0; {
		var f asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &f); err != nil {
			return nil, fmt.Errorf("resign: TBS certificate: %w", err)
		}
		fields = append(fields, f)
	}
	i := 1 // the serial comes first in a v1 certificate
	if len(fields) > 0 && fields[0].Class == asn1.ClassContextSpecific && fields[0].Tag == 0 {
		i = 2 // after the [0] version
	}
	if len(fields) <= i {
		return nil, errors.New("resign: TBS certificate has no signature field")
	}
	alg, err := asn1.Marshal(id)
	if err != nil {
		return nil, err
	}
	fields[i] = asn1.RawValue{FullBytes: alg}
	var content []byte
	for _, f := range fields {
		content = append(content, f.FullBytes...)
	}
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: content})
}
