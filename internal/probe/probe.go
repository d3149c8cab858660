// Package probe talks SMTP to one partner the way a sending MTA does —
// greeting, EHLO, STARTTLS, TLS handshake, EHLO again — and records what
// it saw: the presented chain, TLS facts and the transcript. Every read is
// bounded and every probe ends by its deadline.
package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// Options controls a probe.
type Options struct {
	// HELO is the name sent in EHLO; default DefaultHELO(), or the address
	// literal of the connection's local side when this machine has no fully
	// qualified name (RFC 5321 4.1.3).
	HELO           string
	ConnectTimeout time.Duration // for the TCP connect; default 10s
	Timeout        time.Duration // for the whole probe; default 30s
	// Dial connects to addr; default a net.Dialer with ConnectTimeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ClientCert is presented when the server asks for a client
	// certificate (mutual TLS, as Exchange Domain Security does); nil
	// presents none.
	ClientCert *tls.Certificate
	// OneKeyType skips the extra handshakes that look for a certificate of
	// the other key type (RSA or ECDSA) on a server that holds both.
	OneKeyType bool
}

func (o Options) withDefaults() Options {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.HELO == "" {
		o.HELO = DefaultHELO()
	}
	if o.Dial == nil {
		d := &net.Dialer{Timeout: o.ConnectTimeout}
		o.Dial = d.DialContext
	}
	return o
}

// Observation is what one probe saw.
type Observation struct {
	Addr       string // the IP:port connected to
	SMTP       audit.SMTP
	TLSVersion uint16 // 0 when no handshake completed
	Cipher     uint16
	Chain      []*x509.Certificate // as presented, leaf first
	OCSPStaple []byte
	// Others are the chains of the other key types the server holds, each
	// seen in an extra handshake offering only that key type's suites.
	Others   []KeyChain
	Duration time.Duration
	// Err is why the probe did not complete; when Chain is set the
	// handshake succeeded and Err (if any) came after it.
	Err *Error
}

// KeyChain is the chain a server presents for one key type.
type KeyChain struct {
	KeyType    string // "RSA", "ECDSA"
	TLSVersion uint16
	Cipher     uint16
	Chain      []*x509.Certificate // leaf first
	OCSPStaple []byte
}

// Error is a failed probe: the phase it failed in and the verdict that names it.
type Error struct {
	Phase   string // "connect", "greeting", "ehlo", "starttls", "handshake", "ehlo_tls"
	Verdict audit.Verdict
	Err     error
}

func (e *Error) Error() string { return e.Phase + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Probe connects to addr (IP:port) and runs the SMTP/TLS dialogue for t.
// It returns within opts.Timeout, or sooner when ctx ends.
func Probe(ctx context.Context, t audit.Target, addr string, opts Options) *Observation {
	opts = opts.withDefaults()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	s := newSession(opts, t, addr, start)
	s.run(ctx, addr)
	if !opts.OneKeyType && len(s.obs.Chain) > 0 && ctx.Err() == nil {
		if s.obs.Err != nil && errors.Is(s.obs.Err, ErrImplicitTLS) {
			s.target.TLS = audit.Implicit // as the server speaks
		}
		s.otherKeyTypes(ctx, addr)
	}
	s.obs.Duration = time.Since(start)
	return s.obs
}

func newSession(opts Options, t audit.Target, addr string, start time.Time) *session {
	s := &session{obs: &Observation{Addr: addr}, opts: opts, target: t, last: start}
	s.obs.SMTP.TimingsMS = map[string]int64{}
	s.obs.SMTP.RemoteAddr = addr
	return s
}

type session struct {
	obs    *Observation
	opts   Options
	target audit.Target
	conn   net.Conn
	r      *bufio.Reader
	last   time.Time
	helo   string
	// only, when set, restricts the handshake to one key type's suites and
	// ends the session after it (the extra handshakes of otherKeyTypes).
	only *keyType
	// tlsRecord is set when the greeting began with a TLS record header.
	tlsRecord bool
}

func (s *session) lap(phase string) {
	now := time.Now()
	s.obs.SMTP.TimingsMS[phase] = now.Sub(s.last).Milliseconds()
	s.last = now
}

func (s *session) fail(phase string, err error) {
	s.obs.Err = &Error{Phase: phase, Verdict: classify(phase, err), Err: err}
}

// greetingReserve is the last part of a probe's deadline in which, when no
// greeting came yet, a TLS handshake is tried too (an implicit-TLS server).
func (s *session) greetingReserve() time.Duration {
	return min(5*time.Second, s.opts.Timeout/3)
}

// dial connects to addr within the connect timeout and ties the
// connection's deadline to ctx (Ctrl-C interrupts any read or write).
func (s *session) dial(ctx context.Context, addr string) (net.Conn, func(), error) {
	cctx, ccancel := context.WithTimeout(ctx, s.opts.ConnectTimeout)
	conn, err := s.opts.Dial(cctx, "tcp", addr)
	ccancel()
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return conn, func() { stop(); conn.Close() }, nil
}

// setReadDeadline moves the read deadline without undoing a cancellation.
func setReadDeadline(ctx context.Context, c net.Conn, t time.Time) {
	c.SetReadDeadline(t)
	if ctx.Err() != nil {
		c.SetDeadline(time.Unix(1, 0))
	}
}

func (s *session) run(ctx context.Context, addr string) {
	conn, closeConn, err := s.dial(ctx, addr)
	if err != nil {
		s.fail("connect", err)
		return
	}
	defer func() { closeConn() }()
	s.lap("connect")
	s.conn = conn
	s.helo = s.opts.HELO
	if s.helo == "" {
		s.helo = AddressLiteral(conn.LocalAddr())
	}

	if s.target.TLS == audit.Implicit {
		if !s.handshake(ctx) {
			return
		}
		if s.only != nil {
			s.quit()
			return
		}
		s.setReader(s.conn)
		if !s.greeting() {
			return
		}
		if _, ok := s.ehlo("ehlo_tls"); !ok {
			return
		}
		s.quit()
		return
	}

	s.setReader(conn)
	if s.only == nil {
		x, gaveUp := s.awaitGreeting(ctx, addr)
		switch {
		case x != nil:
			s.implicit(x, fmt.Sprintf("no SMTP greeting in %v", time.Since(s.last).Round(time.Millisecond)))
			return
		case gaveUp != nil:
			s.lap("greeting")
			s.fail("greeting", gaveUp)
			return
		}
	}
	if !s.greeting() {
		if s.tlsRecord && s.only == nil && ctx.Err() == nil {
			closeConn()
			closeConn = func() {}
			if x := s.tryTLS(ctx, addr); x.obs.Err == nil {
				s.implicit(x, "a TLS record instead of the SMTP greeting")
			}
		}
		return
	}
	caps, ok := s.ehlo("ehlo")
	if !ok {
		return
	}
	s.obs.SMTP.StartTLS = hasCap(caps, "STARTTLS")
	if !s.obs.SMTP.StartTLS {
		s.fail("ehlo", errNoStartTLS)
		s.quit()
		return
	}
	rep, err := s.cmd("STARTTLS")
	s.lap("starttls")
	if err != nil {
		s.fail("starttls", err)
		return
	}
	if rep.Code != 220 {
		s.fail("starttls", &ReplyError{Command: "STARTTLS", Reply: rep})
		s.quit()
		return
	}
	if s.r.Buffered() > 0 {
		// Bytes after the 220 before our ClientHello: a STARTTLS command
		// injection or a broken proxy (CVE-2011-0411 class); refuse them.
		s.fail("starttls", fmt.Errorf("%w: %d bytes sent after 220 to STARTTLS", ErrMalformedReply, s.r.Buffered()))
		return
	}
	if !s.handshake(ctx) {
		return
	}
	if s.only != nil {
		s.quit()
		return
	}
	s.setReader(s.conn)
	if _, ok := s.ehlo("ehlo_tls"); !ok {
		return
	}
	s.quit()
}

// ErrImplicitTLS is a server that answers a STARTTLS client with silence (or
// a TLS record) instead of a greeting, but completes a TLS handshake on a
// fresh connection: it speaks implicit TLS.
var ErrImplicitTLS = errors.New("the server speaks TLS at once: set tls=implicit")

// awaitGreeting waits for the first byte of the greeting. After a silence
// of all but greetingReserve of the deadline it also tries, on a new
// connection and while still listening here, a TLS handshake: an
// implicit-TLS server says nothing and waits for a ClientHello. It returns
// that session when its handshake succeeded before any greeting came.
// Half-way through the reserve it hangs up here, for servers that serve
// one connection at a time (openssl s_server), and reports gaveUp, the
// greeting's timeout, when the handshake then fails too.
func (s *session) awaitGreeting(ctx context.Context, addr string) (x *session, gaveUp error) {
	dl, _ := ctx.Deadline()
	first := s.conn
	reserve := s.greetingReserve()
	setReadDeadline(ctx, first, dl.Add(-reserve))
	_, err := s.r.Peek(1)
	if err == nil || !isTimeout(err) || ctx.Err() != nil {
		setReadDeadline(ctx, first, dl)
		return nil, nil
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan *session, 1)
	go func() {
		x := s.tryTLS(actx, addr)
		if x.obs.Err == nil {
			first.SetReadDeadline(time.Unix(1, 0)) // stop listening for a greeting
		}
		done <- x
	}()
	setReadDeadline(ctx, first, dl.Add(-reserve/2))
	s.r = bufio.NewReaderSize(first, MaxLineLength) // forget the timeout
	_, err = s.r.Peek(1)
	if err == nil {
		cancel() // the greeting came after all
		<-done
		setReadDeadline(ctx, first, dl)
		return nil, nil
	}
	select {
	case x := <-done:
		if x.obs.Err == nil {
			return x, nil
		}
		setReadDeadline(ctx, first, dl)
		s.r = bufio.NewReaderSize(first, MaxLineLength)
		return nil, nil // not TLS: wait for the greeting to the end
	default:
	}
	first.Close()
	if x := <-done; x.obs.Err == nil {
		return x, nil
	}
	return nil, err
}

// tryTLS connects to addr again and runs only a TLS handshake.
func (s *session) tryTLS(ctx context.Context, addr string) *session {
	x := newSession(s.opts, s.target, addr, time.Now())
	conn, closeConn, err := x.dial(ctx, addr)
	if err != nil {
		x.fail("connect", err)
		return x
	}
	defer closeConn()
	x.conn = conn
	if x.handshake(ctx) {
		x.quit()
	}
	return x
}

// implicit records that the server speaks implicit TLS, as x's handshake
// showed: a ProtocolError (ErrImplicitTLS) that keeps the chain seen.
func (s *session) implicit(x *session, why string) {
	s.log("-- ", why+": a TLS handshake on a new connection")
	for _, l := range x.obs.SMTP.Transcript {
		s.log("", l)
	}
	s.obs.TLSVersion, s.obs.Cipher, s.obs.Chain, s.obs.OCSPStaple = x.obs.TLSVersion, x.obs.Cipher, x.obs.Chain, x.obs.OCSPStaple
	s.obs.SMTP.ClientCertRequested, s.obs.SMTP.ClientCertSent = x.obs.SMTP.ClientCertRequested, x.obs.SMTP.ClientCertSent
	s.obs.SMTP.TimingsMS["handshake"] = x.obs.SMTP.TimingsMS["handshake"]
	s.obs.Err = &Error{Phase: "greeting", Verdict: audit.ProtocolError,
		Err: fmt.Errorf("%w (%s; a TLS handshake on a new connection succeeded)", ErrImplicitTLS, why)}
}

var errNoStartTLS = errors.New("STARTTLS not offered in the EHLO reply")

// ReplyError is a reply with an unexpected code.
type ReplyError struct {
	Command string
	Reply   *Reply
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("%s answered %s", e.Command, strings.Join(e.Reply.Raw, " / "))
}

func (s *session) setReader(c net.Conn) {
	s.r = bufio.NewReaderSize(c, MaxLineLength)
}

func (s *session) log(dir, line string) {
	if len(s.obs.SMTP.Transcript) >= maxTranscript {
		return
	}
	if len(line) > maxKeptLineLen {
		line = line[:maxKeptLineLen] + "..."
	}
	s.obs.SMTP.Transcript = append(s.obs.SMTP.Transcript, dir+line)
}

func (s *session) read() (*Reply, error) {
	rep, err := ReadReply(s.r, MaxReplyLines)
	if rep != nil {
		for _, l := range rep.Raw {
			s.log("S: ", l)
		}
	}
	return rep, err
}

func (s *session) cmd(line string) (*Reply, error) {
	s.log("C: ", line)
	if _, err := io.WriteString(s.conn, line+"\r\n"); err != nil {
		return nil, err
	}
	return s.read()
}

// greeting reads the whole 220 greeting before anything is sent
// (postscreen drops clients that talk first).
func (s *session) greeting() bool {
	if head, _ := s.r.Peek(2); len(head) == 2 && head[0] == recordTypeHandshake && head[1] == 3 {
		s.tlsRecord = true
	}
	rep, err := s.read()
	s.lap("greeting")
	if err != nil {
		s.fail("greeting", err)
		return false
	}
	s.obs.SMTP.Greeting = rep.Lines
	if rep.Code != 220 {
		s.fail("greeting", &ReplyError{Command: "greeting", Reply: rep})
		s.quit()
		return false
	}
	return true
}

func (s *session) ehlo(phase string) ([]string, bool) {
	rep, err := s.cmd("EHLO " + s.helo)
	s.lap(phase)
	if err != nil {
		if phase == "ehlo_tls" {
			// TLS 1.3 servers refuse a missing certificate at the first read.
			err = s.clientCertErr(err)
		}
		s.fail(phase, err)
		return nil, false
	}
	if rep.Code != 250 {
		var err error = &ReplyError{Command: "EHLO", Reply: rep}
		if phase == "ehlo_tls" {
			// Postfix smtpd_tls_req_ccert: "421 4.7.1 ... No client certificate presented".
			err = s.clientCertErr(err)
		}
		s.fail(phase, err)
		s.quit()
		return nil, false
	}
	caps := rep.Lines[1:]
	if phase == "ehlo" {
		s.obs.SMTP.EHLO = caps
	} else {
		s.obs.SMTP.EHLOTLS = caps
	}
	return caps, true
}

// quit says goodbye without waiting for the answer: nothing depends on it.
func (s *session) quit() {
	s.log("C: ", "QUIT")
	io.WriteString(s.conn, "QUIT\r\n")
}

func (s *session) handshake(ctx context.Context) bool {
	sni := s.target.Host
	if net.ParseIP(sni) != nil {
		sni = ""
	}
	var raw [][]byte
	cfg := &tls.Config{
		ServerName: sni,
		// The chain is verified afterwards, with every verdict that applies,
		// by package verify; here the handshake must succeed to see it.
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS10,
		CipherSuites:       allSuites,
		VerifyPeerCertificate: func(certs [][]byte, _ [][]*x509.Certificate) error {
			raw = certs
			return nil
		},
		// Called only when the server sends a CertificateRequest.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			s.obs.SMTP.ClientCertRequested = true
			if s.opts.ClientCert != nil {
				s.obs.SMTP.ClientCertSent = true
				return s.opts.ClientCert, nil
			}
			return &tls.Certificate{}, nil
		},
	}
	what := "TLS handshake, SNI " + sni
	if s.only != nil {
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = s.only.suites
		what += ", TLS 1.2 " + s.only.name + " suites only"
	}
	tc := tls.Client(s.conn, cfg)
	s.log("-- ", what)
	err := tc.HandshakeContext(ctx)
	s.lap("handshake")
	if s.obs.SMTP.ClientCertRequested {
		s.log("-- ", "the server asked for a client certificate; "+map[bool]string{true: "ours was sent", false: "none sent"}[s.obs.SMTP.ClientCertSent])
	}
	if err != nil {
		s.obs.SMTP.HandshakeErr = err.Error()
		s.fail("handshake", s.clientCertErr(err))
		if len(raw) > 0 {
			s.obs.Chain = parseLoose(raw)
		}
		return false
	}
	cs := tc.ConnectionState()
	s.obs.TLSVersion = cs.Version
	s.obs.Cipher = cs.CipherSuite
	s.obs.Chain = cs.PeerCertificates
	s.obs.OCSPStaple = cs.OCSPResponse
	s.log("-- ", fmt.Sprintf("%s %s, %d certificates", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), len(cs.PeerCertificates)))
	s.conn = tc
	return true
}

func parseLoose(raw [][]byte) []*x509.Certificate {
	var out []*x509.Certificate
	for _, b := range raw {
		if c, err := x509.ParseCertificate(b); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// allSuites offers every suite Go implements, secure ones first, so that a
// server which only speaks an old or weak suite is still seen (and named).
var allSuites = func() []uint16 {
	var ids []uint16
	for _, s := range tls.CipherSuites() {
		ids = append(ids, s.ID)
	}
	for _, s := range tls.InsecureCipherSuites() {
		ids = append(ids, s.ID)
	}
	return ids
}()

func hasCap(caps []string, name string) bool {
	for _, c := range caps {
		f := strings.Fields(c)
		if len(f) > 0 && strings.EqualFold(f[0], name) {
			return true
		}
	}
	return false
}

// classify names a failure in phase by the verdict admins know.
func classify(phase string, err error) audit.Verdict {
	var dnsErr *net.DNSError
	var ccErr *ClientCertError
	switch {
	case errors.As(err, &ccErr):
		return audit.ClientCertificateRequired
	case errors.As(err, &dnsErr) && !dnsErr.IsTimeout:
		return audit.DNSError
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return audit.Timeout
	case isTimeout(err):
		return audit.Timeout
	case errors.Is(err, errNoStartTLS):
		return audit.NoStartTLS
	}
	switch phase {
	case "connect":
		// Refused, unreachable, reset: nothing takes mail on that address.
		return audit.ConnectionRefused
	case "starttls":
		var re *ReplyError
		if errors.As(err, &re) {
			return audit.StartTLSRefused
		}
		return audit.ProtocolError
	case "handshake":
		return audit.HandshakeFailed
	}
	return audit.ProtocolError
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
