package probe

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
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
// client certificate and then sent a TLS alert or hung up: a TLS 1.2 server
// fails the handshake, a TLS 1.3 one sends certificate_required (116) at the
// first read after it.
func (s *session) clientCertErr(err error) error {
	if !s.obs.SMTP.ClientCertRequested || !refusal(err) {
		return err
	}
	return &ClientCertError{Sent: s.obs.SMTP.ClientCertSent, Err: err}
}

// refusal reports whether err is the peer's TLS alert or its hanging up.
func refusal(err error) bool {
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
