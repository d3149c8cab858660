// Package mailtest runs a real SMTP submission server on 127.0.0.1 for
// tests, built on github.com/emersion/go-smtp: STARTTLS or implicit TLS
// with a certificate generated for the test, AUTH PLAIN and LOGIN, scripted
// temporary and permanent failures per recipient, and every accepted
// message kept for inspection.
package mailtest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mxaudit/mxaudit/internal/fleet"
)

// Rule makes the server refuse RCPT TO for one address.
type Rule struct {
	Rcpt  string // the address, compared case-insensitively
	Code  int    // 450 (temporary) or 550 (permanent), for example
	Times int    // refuse this many times, then accept; 0 means always
}

// Options configure the server.
type Options struct {
	Implicit bool              // TLS from the first byte instead of STARTTLS
	Users    map[string]string // user -> password; nil means no AUTH and none required
	Mechs    []string          // AUTH mechanisms offered; nil means PLAIN and LOGIN
	Rules    []Rule
}

// Received is one accepted message.
type Received struct {
	From     string
	To       []string
	Data     []byte
	User     string // the authenticated user
	Mech     string // the AUTH mechanism used
	TLS      bool
	Rejected []string // recipients refused in the same transaction
}

// Server is a running test SMTP server.
type Server struct {
	Addr  string // 127.0.0.1:port
	CAPEM []byte // the CA that signed the server certificate, PEM
	Pool  *x509.CertPool

	srv   *smtp.Server
	opts  Options
	mu    sync.Mutex
	msgs  []Received
	tries map[string]int // RCPT TO attempts per address (lower case)
	auths []string       // "MECH user" of every successful AUTH
	fails []string       // every failed AUTH, as "MECH user"
}

// Start starts a server on 127.0.0.1:0; it is closed when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Mechs == nil {
		o.Mechs = []string{sasl.Plain, sasl.Login}
	}
	caPEM, cert, pool, err := certificate()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{CAPEM: caPEM, Pool: pool, opts: o, tries: map[string]int{}}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 32 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.Implicit {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	s.Addr = l.Addr().String()
	s.srv = srv
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Messages returns the accepted messages in order.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// For returns the accepted messages addressed to rcpt.
func (s *Server) For(rcpt string) []Received {
	var out []Received
	for _, m := range s.Messages() {
		if slices.ContainsFunc(m.To, func(t string) bool { return strings.EqualFold(t, rcpt) }) {
			out = append(out, m)
		}
	}
	return out
}

// Tries returns how often RCPT TO named rcpt.
func (s *Server) Tries(rcpt string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tries[strings.ToLower(rcpt)]
}

// Auths returns "MECH user" for every successful AUTH, in order.
func (s *Server) Auths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.auths)
}

// FailedAuths returns "MECH user" for every refused AUTH, in order.
func (s *Server) FailedAuths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.fails)
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: b.s, conn: c, tls: isTLS}, nil
}

type session struct {
	s          *Server
	conn       *smtp.Conn
	tls        bool
	user, mech string
	from       string
	to         []string
	rejected   []string
}

func (ss *session) AuthMechanisms() []string { return ss.s.opts.Mechs }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if !slices.Contains(ss.s.opts.Mechs, mech) {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	check := func(user, pass string) error {
		ss.s.mu.Lock()
		defer ss.s.mu.Unlock()
		if want, ok := ss.s.opts.Users[user]; !ok || want != pass {
			ss.s.fails = append(ss.s.fails, mech+" "+user)
			return smtp.ErrAuthFailed
		}
		ss.user, ss.mech = user, mech
		ss.s.auths = append(ss.s.auths, mech+" "+user)
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return smtp.ErrAuthFailed
			}
			return check(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Users != nil && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	key := strings.ToLower(to)
	ss.s.tries[key]++
	n := ss.s.tries[key]
	ss.s.mu.Unlock()
	for _, r := range ss.s.opts.Rules {
		if strings.EqualFold(r.Rcpt, to) && (r.Times == 0 || n <= r.Times) {
			ss.rejected = append(ss.rejected, to)
			class := r.Code / 100
			return &smtp.SMTPError{Code: r.Code, EnhancedCode: smtp.EnhancedCode{class, 1, 1},
				Message: fmt.Sprintf("test rule: %s refused (attempt %d)", to, n)}
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, Received{From: ss.from, To: slices.Clone(ss.to), Data: b, User: ss.user, Mech: ss.mech,
		TLS: isTLS, Rejected: slices.Clone(ss.rejected)})
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Reset() { ss.from, ss.to, ss.rejected = "", nil, nil }

func (ss *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN (draft-murchison-sasl-login),
// which go-sasl only implements for clients.
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if resp != nil { // initial response: the user name
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(resp)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		if err := l.check(l.user, string(resp)); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return nil, false, errors.New("unexpected LOGIN response")
}

// certificate generates a CA and a server certificate for 127.0.0.1 and localhost.
func certificate() (caPEM []byte, cert tls.Certificate, pool *x509.CertPool, err error) {
	now := time.Now()
	ca, err := fleet.NewRoot(fleet.CertSpec{CommonName: "mailtest CA", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	if err != nil {
		return nil, cert, nil, err
	}
	leaf, err := ca.Issue(fleet.CertSpec{CommonName: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	if err != nil {
		return nil, cert, nil, err
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return fleet.PEM(ca.Cert), leaf.TLSCert(), pool, nil
}
