package mailing

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/mxaudit/mxaudit/audit"
)

// Transport delivers composed messages.
type Transport interface {
	// Send delivers one message; a failure is a *SendError.
	Send(ctx context.Context, m *Message) error
	// Close ends the connection, if any.
	Close() error
}

// SendError is a failed delivery attempt.
type SendError struct {
	Code      int  // the SMTP reply code, 0 when there was none (network, TLS)
	Temporary bool // a 4xx reply or a network failure: worth trying again
	// Conn says the connection could not be set up (connect, TLS, AUTH): every
	// other message would fail the same way.
	Conn bool
	Err  error
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// Auth mechanisms of --smtp-auth.
const (
	AuthAuto  = "auto"  // PLAIN when the server offers it, else LOGIN
	AuthPlain = "plain" // AUTH PLAIN
	AuthLogin = "login" // AUTH LOGIN
)

// SMTPConfig says how to reach the submission server.
type SMTPConfig struct {
	Addr     string         // host:port
	TLS      audit.TLSMode  // "" means audit.DefaultTLSMode(port)
	Roots    *x509.CertPool // trust anchors for the server certificate; nil means the system roots
	User     string         // "" for no authentication
	Password string         // never logged, never written anywhere
	Auth     string         // AuthAuto, AuthPlain or AuthLogin; "" means AuthAuto
	HELO     string         // "" means the host name
	Timeout  time.Duration  // per connection and command; 0 means 30 s
}

// SMTP submits messages over one reused connection, reconnecting after a connection failure.
type SMTP struct {
	cfg    SMTPConfig
	host   string
	client *gomail.Client
	conn   *gosmtp.Client
}

// NewSMTP checks cfg and returns a transport; it connects on the first Send.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	host, portS, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp server %q: want HOST:PORT: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("smtp server %q: bad port", cfg.Addr)
	}
	if cfg.TLS == "" {
		cfg.TLS = audit.DefaultTLSMode(port)
	}
	if cfg.Auth == "" {
		cfg.Auth = AuthAuto
	}
	if !slices.Contains([]string{AuthAuto, AuthPlain, AuthLogin}, cfg.Auth) {
		return nil, fmt.Errorf("smtp auth %q: want auto, plain or login", cfg.Auth)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	opts := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(cfg.Timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: host, RootCAs: cfg.Roots, MinVersion: tls.VersionTLS12}),
	}
	switch cfg.TLS {
	case audit.StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case audit.Implicit:
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("smtp tls %q: want starttls or implicit", cfg.TLS)
	}
	if cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(cfg.HELO))
	}
	if cfg.User != "" {
		opts = append(opts, gomail.WithSMTPAuthCustom(&auth{mech: cfg.Auth, user: cfg.User, pass: cfg.Password, host: host}))
	}
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return &SMTP{cfg: cfg, host: host, client: c}, nil
}

// Send submits m, connecting first when there is no connection.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	if s.conn == nil {
		conn, err := s.client.DialToSMTPClientWithContext(ctx)
		if err != nil {
			se := classify(err)
			se.Conn = true
			se.Err = fmt.Errorf("smtp %s: %w", s.cfg.Addr, err)
			return se
		}
		s.conn = conn
	}
	err := s.client.SendWithSMTPClient(s.conn, m.msg)
	if err == nil {
		return nil
	}
	se := classify(err)
	if se.Code == 0 || se.Code == 421 {
		// No SMTP reply, or the server is closing the connection: the next Send reconnects.
		s.drop()
	}
	return se
}

// Close says QUIT and closes the connection.
func (s *SMTP) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.client.CloseWithSMTPClient(s.conn)
	s.conn = nil
	return err
}

func (s *SMTP) drop() {
	if s.conn != nil {
		_ = s.client.CloseWithSMTPClient(s.conn)
		s.conn = nil
	}
}

// classify turns an error of go-mail into a SendError: SMTP replies by
// their code, certificate and TLS failures permanent, other network
// failures temporary.
func classify(err error) *SendError {
	se := &SendError{Err: err}
	var ge *gomail.SendError
	var te *textproto.Error
	var cve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	var ae tls.AlertError
	switch {
	case errors.As(err, &te):
		se.Code = te.Code
	case errors.As(err, &ge) && ge.ErrorCode() != 0:
		se.Code = ge.ErrorCode()
	case errors.As(err, &cve), errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci), errors.As(err, &rh), errors.As(err, &ae):
		return se // a TLS problem does not go away by itself
	case errors.As(err, &ge):
		se.Temporary = ge.IsTemp() || ge.Reason == gomail.ErrConnCheck
		return se
	case errors.Is(err, gosmtp.ErrUnencrypted), errors.Is(err, gosmtp.ErrWrongHostname), errors.Is(err, errNoMechanism):
		return se
	default:
		// connection refused, reset, timeout, EOF: the server may be back soon
		se.Temporary = true
		return se
	}
	se.Temporary = se.Code >= 400 && se.Code < 500
	return se
}

var errNoMechanism = errors.New("the server offers neither AUTH PLAIN nor AUTH LOGIN")

// auth is AUTH PLAIN or LOGIN, chosen from what the server offers; both
// refuse to send the password over a connection without TLS.
type auth struct {
	mech, user, pass, host string
	inner                  gosmtp.Auth
}

func (a *auth) Start(si *gosmtp.ServerInfo) (string, []byte, error) {
	if !si.TLS {
		return "", nil, gosmtp.ErrUnencrypted
	}
	offers := func(m string) bool {
		return slices.ContainsFunc(si.Auth, func(s string) bool { return strings.EqualFold(s, m) })
	}
	switch {
	case (a.mech == AuthPlain || a.mech == AuthAuto) && offers("PLAIN"):
		a.inner = gosmtp.PlainAuth("", a.user, a.pass, a.host, false)
	case (a.mech == AuthLogin || a.mech == AuthAuto) && offers("LOGIN"):
		a.inner = gosmtp.LoginAuth(a.user, a.pass, a.host, false)
	case a.mech == AuthPlain:
		return "", nil, fmt.Errorf("the server does not offer AUTH PLAIN (it offers %s)", strings.Join(si.Auth, " "))
	case a.mech == AuthLogin:
		return "", nil, fmt.Errorf("the server does not offer AUTH LOGIN (it offers %s)", strings.Join(si.Auth, " "))
	default:
		return "", nil, fmt.Errorf("%w (it offers %q)", errNoMechanism, strings.Join(si.Auth, " "))
	}
	return a.inner.Start(si)
}

func (a *auth) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.inner.Next(fromServer, more)
}

// Dir writes each message as a .eml file into a folder instead of sending it (--dry-run).
type Dir struct {
	Path string
	n    int
	// Written lists the files written, in order, unless Forget is set (a long run).
	Written []string
	Forget  bool
}

// Send writes m to NN-<partner>-<address>.eml (owner-<address>.eml for the owner's message).
func (d *Dir) Send(_ context.Context, m *Message) error {
	if err := os.MkdirAll(d.Path, 0o755); err != nil {
		return &SendError{Err: err}
	}
	d.n++
	name := fmt.Sprintf("%02d-%s-%s.eml", d.n, fileSafe(m.Partner), fileSafe(m.To))
	if m.Owner {
		name = fmt.Sprintf("%02d-owner-%s.eml", d.n, fileSafe(m.To))
	}
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		return &SendError{Err: fmt.Errorf("%s: %w", name, err)}
	}
	p := filepath.Join(d.Path, name)
	if err := audit.WriteFileAtomic(p, b.Bytes()); err != nil {
		return &SendError{Err: err}
	}
	if !d.Forget {
		d.Written = append(d.Written, p)
	}
	return nil
}

// Close does nothing.
func (d *Dir) Close() error { return nil }

// fileSafe keeps letters, digits, '@', '.', '_' and '-' and turns anything else into '-'.
func fileSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("@._-", r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-.")
	if out == "" {
		out = "x"
	}
	return out
}
