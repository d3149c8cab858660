package probe

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// ClientCertError is a server that asked for a client certificate (mutual
// TLS) and ended the session: without ours, or refusing the one we sent.
type ClientCertError struct {
	Sent bool // our certificate was presented
	Err  error
}

func (e *ClientCertError) Error() string {
	if e.Sent {
		return "the server asked for a client certificate and refused ours: " + e.Err.Error()
	}
	return "the server requires a client certificate (mutual TLS) and ended the session without one: " + e.Err.Error() +
		"; audit with --client-cert and --client-key"
}

// Unwrap returns the TLS or network error.
func (e *ClientCertError) Unwrap() error { return e.Err }

// clientCertErr wraps err in a ClientCertError when the server asked for a
// client certificate and then sent a TLS alert, hung up or refused the EHLO
// after TLS: a TLS 1.2 server fails the handshake, a TLS 1.3 one sends
// certificate_required (116) at the first read after it, and Postfix
// (smtpd_tls_req_ccert) completes TLS and answers EHLO with 421 4.7.1.
func (s *session) clientCertErr(err error) error {
	if !s.obs.SMTP.ClientCertRequested || !refusal(err) {
		return err
	}
	return &ClientCertError{Sent: s.obs.SMTP.ClientCertSent, Err: err}
}

// refusal reports whether err is the peer's TLS alert, its hanging up, or an error reply.
func refusal(err error) bool {
	var re *ReplyError
	if errors.As(err, &re) {
		return re.Reply.Code >= 400
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return true
	}
	var ae tls.AlertError
	return errors.As(err, &ae) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// ClientCertSummary describes a certificate for the log, without secrets:
// its subject and the number of certificates in its chain.
func ClientCertSummary(c *tls.Certificate) string {
	if c == nil || len(c.Certificate) == 0 {
		return "none"
	}
	if c.Leaf != nil {
		return fmt.Sprintf("%s (%d certificates)", c.Leaf.Subject, len(c.Certificate))
	}
	return fmt.Sprintf("%d certificates", len(c.Certificate))
}

// maxCertFileSize bounds what LoadClientCert reads from one file.
const maxCertFileSize = 1 << 20

// ErrWrongPassword is a PKCS#12 file that the password does not open.
var ErrWrongPassword = errors.New("wrong password")

// LoadClientCert reads the client certificate a probe presents: certFile
// is PEM (the chain, leaf first) with its key in keyFile (PEM; or in
// certFile when keyFile is ""), or a PKCS#12 bundle (.pfx/.p12, as Windows
// exports a certificate with its private key) opened with password.
// Errors name the file; the password never appears in them.
func LoadClientCert(certFile, keyFile, password string) (*tls.Certificate, error) {
	data, err := readBounded(certFile)
	if err != nil {
		return nil, err
	}
	ext := strings.ToLower(filepath.Ext(certFile))
	if ext == ".pfx" || ext == ".p12" || (keyFile == "" && !bytes.Contains(data, []byte("-----BEGIN"))) {
		if keyFile != "" {
			return nil, fmt.Errorf("%s: a PKCS#12 file holds its own key; drop --client-key %s", certFile, keyFile)
		}
		return loadPKCS12(certFile, data, password)
	}
	keyData := data
	if keyFile != "" {
		if keyData, err = readBounded(keyFile); err != nil {
			return nil, err
		}
	} else {
		keyFile = certFile
	}
	if bytes.Contains(keyData, []byte("ENCRYPTED")) {
		return nil, fmt.Errorf("%s: encrypted PEM private keys are not supported: use the .pfx export, or decrypt the key (openssl pkey -in %s -out key.pem)", keyFile, keyFile)
	}
	c, err := tls.X509KeyPair(data, keyData)
	if err != nil {
		return nil, fmt.Errorf("%s, %s: %w", certFile, keyFile, err)
	}
	return &c, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCertFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxCertFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a certificate file", path, maxCertFileSize)
	}
	return b, nil
}

func loadPKCS12(path string, data []byte, password string) (*tls.Certificate, error) {
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return nil, fmt.Errorf("%s: %w for the PKCS#12 file", path, ErrWrongPassword)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not a PKCS#12 file with a certificate and its key: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: unsupported private key type %T", path, key)
	}
	if pk, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pk.Equal(signer.Public()) {
		return nil, fmt.Errorf("%s: the private key does not belong to the certificate %s", path, leaf.Subject)
	}
	c := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	for _, ca := range cas {
		// Windows exports the whole path; a root is never sent.
		if !bytes.Equal(ca.RawIssuer, ca.RawSubject) {
			c.Certificate = append(c.Certificate, ca.Raw)
		}
	}
	return c, nil
}

// ClientCertProblems says what would make a partner refuse our client
// certificate at now: expired or not yet valid, or an extended key usage
// without Client Authentication.
func ClientCertProblems(c *tls.Certificate, now time.Time) []string {
	leaf := c.Leaf
	if leaf == nil && len(c.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(c.Certificate[0])
	}
	if leaf == nil {
		return []string{"the client certificate does not parse"}
	}
	var out []string
	if now.After(leaf.NotAfter) {
		out = append(out, "the client certificate expired on "+leaf.NotAfter.Format(time.DateOnly))
	}
	if now.Before(leaf.NotBefore) {
		out = append(out, "the client certificate is valid only from "+leaf.NotBefore.Format(time.DateOnly))
	}
	if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		out = append(out, "the client certificate's extended key usage lacks Client Authentication")
	}
	return out
}
