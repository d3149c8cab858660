// Package trust loads root stores: the system roots (or, for hermetic runs,
// one roots file) plus a directory of private roots that partners use, in
// every format admins export them in: PEM, DER, certs-only PKCS#7 (.p7b,
// also PEM-armoured) and Windows serialized certificate stores (.sst).
// Formats are detected by content, not by extension.
//
// Nothing is skipped silently: a file or a certificate that cannot be read
// is reported with the file name and, for one certificate among several, its
// index.
package trust

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/smallstep/pkcs7"

	"github.com/mxaudit/mxaudit/internal/regfile"
)

// Extensions lists the file extensions LoadDir reads (compared case-insensitively).
var Extensions = []string{".cer", ".crt", ".pem", ".der", ".p7b", ".p7c", ".sst"}

// Root is one certificate loaded from a roots directory.
type Root struct {
	Cert  *x509.Certificate
	File  string // base name of the file it came from
	Index int    // position of the certificate in its file, from 0
}

// FileError reports a roots file that could not be read, or certificates in
// it that could not be parsed.
type FileError struct {
	File string // path of the file
	Err  error  // the reason; a *CertError (or several, joined) for single certificates
}

func (e *FileError) Error() string {
	if re, ok := e.Err.(*regfile.Error); ok {
		return fmt.Sprintf("roots file %s skipped: %s", e.File, re.Reason)
	}
	return fmt.Sprintf("roots file %s: %v", e.File, e.Err)
}

// Message is the reason alone, without the file name.
func (e *FileError) Message() string {
	if re, ok := e.Err.(*regfile.Error); ok {
		return "skipped: " + re.Reason
	}
	return e.Err.Error()
}

// Unwrap returns the reason.
func (e *FileError) Unwrap() error { return e.Err }

// CertError reports one certificate of a file that could not be parsed; the
// other certificates of the file are still returned.
type CertError struct {
	Index  int // position of the certificate in the file, from 0
	Offset int // byte offset of its record in a .sst file, or -1
	Err    error
}

func (e *CertError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("certificate %d (offset %d): %v", e.Index, e.Offset, e.Err)
	}
	return fmt.Sprintf("certificate %d: %v", e.Index, e.Err)
}

// Unwrap returns the reason.
func (e *CertError) Unwrap() error { return e.Err }

// ErrUnknownFormat is returned for content that is none of the supported formats.
var ErrUnknownFormat = errors.New("not a certificate file (expected PEM, DER, PKCS#7 or a Windows .sst store)")

// ErrNoCertificates is returned for a file in a supported format that holds no certificate.
var ErrNoCertificates = errors.New("no certificates in file")

// ReadFile reads every certificate in the file at path, whatever its format.
// Only a regular file of at most regfile.MaxRoots bytes is read: a FIFO, a
// device (a symlink to /dev/zero) or a larger file is refused with a
// *regfile.Error inside the *FileError.
// When some certificates cannot be parsed it returns the others together with
// an error naming each failed one by index (*CertError, joined); the error is
// wrapped in a *FileError naming path.
func ReadFile(path string) ([]*x509.Certificate, error) {
	certs, err := readFile(path)
	return certsOf(certs), err
}

// indexed is a parsed certificate and its position in its file.
type indexed struct {
	cert  *x509.Certificate
	index int
}

func certsOf(in []indexed) []*x509.Certificate {
	if len(in) == 0 {
		return nil
	}
	out := make([]*x509.Certificate, len(in))
	for i, c := range in {
		out[i] = c.cert
	}
	return out
}

func readFile(path string) ([]indexed, error) {
	data, err := regfile.Read(path, regfile.MaxRoots)
	if err != nil {
		return nil, &FileError{File: path, Err: err}
	}
	certs, err := parse(data)
	if err != nil {
		return certs, &FileError{File: path, Err: err}
	}
	return certs, nil
}

// Parse reads every certificate in data: PEM (any number of blocks, text
// around them allowed), DER, certs-only PKCS#7 in DER or PEM, base64 without
// PEM armour, or a Windows serialized store. Errors are as for ReadFile,
// without the file name.
func Parse(data []byte) ([]*x509.Certificate, error) {
	certs, err := parse(data)
	return certsOf(certs), err
}

func parse(data []byte) ([]indexed, error) {
	switch {
	case len(data) == 0:
		return nil, errors.New("empty file")
	case isSST(data):
		return readSST(data)
	case bytes.Contains(data, []byte("-----BEGIN ")):
		return parsePEM(data)
	case data[0] == 0x30:
		return parseDER(data)
	}
	// Base64 without armour (some tools write a .cer this way).
	if b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(data)), "")); err == nil && len(b) > 0 && b[0] == 0x30 {
		return parseDER(b)
	}
	return nil, ErrUnknownFormat
}

// parsePEM reads every CERTIFICATE, TRUSTED CERTIFICATE and PKCS7 block.
// Other blocks (keys, CRLs) are ignored, but a file without any certificate
// is an error that names what was found.
func parsePEM(data []byte) ([]indexed, error) {
	var (
		out   []indexed
		errs  []error
		other []string
		n     int
	)
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE":
			der := b.Bytes
			if b.Type == "TRUSTED CERTIFICATE" {
				// OpenSSL appends trust settings after the certificate.
				var rv asn1.RawValue
				if _, err := asn1.Unmarshal(der, &rv); err == nil {
					der = rv.FullBytes
				}
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				errs = append(errs, &CertError{Index: n, Offset: -1, Err: err})
			} else {
				out = append(out, indexed{c, n})
			}
			n++
		case "PKCS7", "CMS":
			certs, total, err := parsePKCS7(b.Bytes, n)
			out = append(out, certs...)
			n += total
			if err != nil {
				errs = append(errs, err)
			}
		default:
			other = append(other, b.Type)
		}
	}
	if len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	if len(out) == 0 {
		if len(other) > 0 {
			return nil, fmt.Errorf("%w (PEM blocks found: %s)", ErrNoCertificates, strings.Join(other, ", "))
		}
		return nil, errors.New("no valid PEM block (a BEGIN line without a matching END line, or bad base64?)")
	}
	return out, nil
}

// parseDER reads one DER certificate or a certs-only PKCS#7.
func parseDER(der []byte) ([]indexed, error) {
	if looksLikeContentInfo(der) {
		certs, _, err := parsePKCS7(der, 0)
		return certs, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, &CertError{Index: 0, Offset: -1, Err: err}
	}
	return []indexed{{c, 0}}, nil
}

// looksLikeContentInfo reports whether der is a SEQUENCE that starts with an
// OID (a PKCS#7 ContentInfo) rather than with a SEQUENCE (a certificate).
func looksLikeContentInfo(der []byte) bool {
	var rv asn1.RawValue
	if _, err := asn1.Unmarshal(der, &rv); err != nil {
		// BER with indefinite lengths: look at the first inner tag.
		return len(der) > 2 && der[0] == 0x30 && der[1] == 0x80 && der[2] == 0x06
	}
	return rv.Tag == asn1.TagSequence && len(rv.Bytes) > 0 && rv.Bytes[0] == 0x06
}

var oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}

// parsePKCS7 reads the certificates of a PKCS#7 SignedData (certs-only
// .p7b/.p7c). It uses github.com/smallstep/pkcs7, which also reads BER;
// when that fails (it rejects the whole bundle for one bad certificate) it
// walks the DER itself to parse each certificate on its own and name the
// bad ones. first is the index of the first certificate in the file; total
// counts the certificates found, parsed or not.
func parsePKCS7(der []byte, first int) (certs []indexed, total int, err error) {
	p7, err := pkcs7.Parse(der)
	if err == nil {
		if len(p7.Certificates) == 0 {
			return nil, 0, fmt.Errorf("PKCS#7: %w", ErrNoCertificates)
		}
		out := make([]indexed, len(p7.Certificates))
		for i, c := range p7.Certificates {
			out[i] = indexed{c, first + i}
		}
		return out, len(out), nil
	}
	raws, werr := pkcs7Certificates(der)
	if werr != nil {
		return nil, 0, fmt.Errorf("PKCS#7: %w", err)
	}
	var (
		out  []indexed
		errs []error
	)
	for i, raw := range raws {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			errs = append(errs, &CertError{Index: first + i, Offset: -1, Err: err})
			continue
		}
		out = append(out, indexed{c, first + i})
	}
	if len(errs) > 0 {
		return out, len(raws), errors.Join(errs...)
	}
	if len(out) == 0 {
		return nil, 0, fmt.Errorf("PKCS#7: %w", ErrNoCertificates)
	}
	return out, len(raws), nil
}

// pkcs7Certificates returns the raw certificates of a DER SignedData.
func pkcs7Certificates(der []byte) ([][]byte, error) {
	var ci struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) > 0 {
		return nil, errors.New("not DER ContentInfo")
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("content type %v is not signedData", ci.ContentType)
	}
	var sd struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		ContentInfo      asn1.RawValue
		Certificates     asn1.RawValue `asn1:"optional,tag:0"`
		Rest             asn1.RawValue `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, err
	}
	var out [][]byte
	rest := sd.Certificates.Bytes
	for len(rest) > 0 {
		var rv asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &rv); err != nil {
			return nil, err
		}
		out = append(out, rv.FullBytes)
	}
	return out, nil
}

// hasExtension reports whether name has one of the Extensions.
func hasExtension(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range Extensions {
		if ext == e {
			return true
		}
	}
	return false
}
