package fleet

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Behavior is how a simulated SMTP server acts.
type Behavior struct {
	Name        string          // host name in the greeting
	Greeting    []string        // greeting lines after "220"; default one line
	NoGreeting  bool            // accept and never say anything
	EHLO        []string        // capability lines (nil: PIPELINING, 8BITMIME); STARTTLS is added before TLS unless NoStartTLS
	NoStartTLS  bool            // do not offer STARTTLS
	StartTLS    string          // reply to STARTTLS instead of "220 2.0.0 Ready to start TLS"
	Implicit    bool            // TLS from the first byte (port 465 style)
	Cert        tls.Certificate // presented chain
	MaxVersion  uint16          // highest TLS version offered; 0 means Go's default
	Ciphers     []uint16        // TLS 1.0-1.2 suites; nil means Go's default
	LineDelay   time.Duration   // added before every reply line
	Hostile     Hostility       // misbehaviour, see the constants
	GreetDelay  time.Duration   // hold the greeting this long (postscreen style)
	DropEarly   bool            // with GreetDelay: hang up on clients that talk before the greeting
	RejectGreet string          // a whole greeting line such as "554 5.7.1 no service"
	// Certs are more chains, of other key types (RSA and ECDSA at once, as
	// Postfix smtpd_tls_chain_files serves them); Go's server presents the
	// first of Cert, Certs... that the client's hello supports.
	Certs []tls.Certificate
	// MinVersion is the lowest TLS version accepted; 0 means TLS 1.0.
	MinVersion uint16
	// ClientAuth asks for a client certificate (mutual TLS, Postfix
	// smtpd_tls_req_ccert); ClientCAs are the roots it is verified against.
	ClientAuth tls.ClientAuthType
	// AcceptMail takes messages (MAIL, RCPT, DATA), as a partner's MX does
	// for a real MTA sending to it; without it they are not implemented.
	AcceptMail bool
	ClientCAs  *x509.CertPool
	// ClientCertSMTP acts as Postfix with smtpd_tls_req_ccert = yes: the
	// handshake asks for a client certificate but completes without one,
	// then the EHLO after TLS is answered "421 4.7.1 ... Error: No client
	// certificate presented" (or "... not trusted" when ClientCAs do not
	// verify it) and the connection closed.
	ClientCertSMTP bool
	// OneAtATime serves one connection at a time, as openssl s_server does.
	OneAtATime bool
	// FQDNHELO rejects an EHLO/HELO name that is neither a fully qualified
	// name nor an address literal, as Postfix's reject_non_fqdn_helo_hostname
	// does with smtpd_delay_reject = no.
	FQDNHELO bool
}

// Hostility is a way a server misbehaves.
type Hostility int

// Hostile behaviours.
const (
	Polite               Hostility = iota
	EndlessContinuation            // "250-" lines forever in the EHLO reply
	SlowDrip                       // the greeting one byte per 200 ms, never ending
	Garbage                        // binary garbage instead of a greeting
	ResetInHandshake               // accept STARTTLS, then close during the handshake
	GarbageAfterStartTLS           // accept STARTTLS, then send non-TLS bytes
	GarbageCertificate             // a TLS handshake whose certificate does not parse
	EndlessLine                    // one greeting line without end
)

// Server is one simulated partner's SMTP server on a loopback address.
type Server struct {
	Addr string // IP:port it listens on
	b    Behavior
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]bool
	done chan struct{}
	// lines counts the reply lines written that a client waits for (each
	// after Behavior.LineDelay): all but the reply to QUIT.
	lines atomic.Int64
	// received counts the messages taken with AcceptMail.
	received atomic.Int64
}

// Received returns how many messages the server took (Behavior.AcceptMail).
func (s *Server) Received() int64 { return s.received.Load() }

// Lines returns how many SMTP reply lines the server has written that a
// client waits for (the reply to QUIT is not one: clients hang up after QUIT).
func (s *Server) Lines() int64 { return s.lines.Load() }

// Listen starts a server with behaviour b on addr (e.g. "127.0.0.7:0").
func Listen(addr string, b Behavior) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if b.Name == "" {
		b.Name = "mx.example"
	}
	s := &Server{Addr: ln.Addr().String(), b: b, ln: ln, conn: map[net.Conn]bool{}, done: make(chan struct{})}
	if b.Implicit || b.Hostile == GarbageCertificate {
		s.ln = ln
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Close stops the server and ends its connections; it may be called more than once.
func (s *Server) Close() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	close(s.done)
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conn {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conn[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		serve := func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conn, c)
				s.mu.Unlock()
				c.Close()
			}()
			c.SetDeadline(time.Now().Add(2 * time.Minute))
			s.handle(c)
		}
		if s.behavior().OneAtATime {
			serve()
		} else {
			go serve()
		}
	}
}

func tlsConfig(b Behavior) *tls.Config {
	minVersion := b.MinVersion
	if minVersion == 0 {
		minVersion = tls.VersionTLS10
	}
	return &tls.Config{
		Certificates: append([]tls.Certificate{b.Cert}, b.Certs...),
		MinVersion:   minVersion,
		MaxVersion:   b.MaxVersion,
		CipherSuites: b.Ciphers,
		ClientAuth:   max(b.ClientAuth, clientAuthFor(b.ClientCertSMTP)),
		ClientCAs:    b.ClientCAs,
	}
}

// Update changes how the server behaves for connections accepted from now on.
func (s *Server) Update(change func(*Behavior)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(&s.b)
}

func (s *Server) behavior() Behavior {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b
}

// sleep waits d or until the server closes; it reports false on close.
func (s *Server) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

func (s *Server) handle(c net.Conn) {
	b := s.behavior()
	switch b.Hostile {
	case Garbage:
		c.Write([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\x00\xff\r\n"))
		s.sleep(time.Second)
		return
	case SlowDrip:
		for {
			if _, err := c.Write([]byte("2")); err != nil || !s.sleep(200*time.Millisecond) {
				return
			}
		}
	case EndlessLine:
		chunk := []byte("220 " + strings.Repeat("x", 1020))
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
			select {
			case <-s.done:
				return
			default:
			}
		}
	case GarbageCertificate:
		garbageServerHello(c)
		return
	}
	if b.NoGreeting {
		io.Copy(io.Discard, c)
		return
	}
	if b.Implicit {
		tc := tls.Server(c, tlsConfig(b))
		if err := tc.Handshake(); err != nil {
			return
		}
		c = tc
	}
	w := bufio.NewWriter(c)
	// write sends reply lines; counted says a client waits for them (it does not for the reply to QUIT).
	write := func(counted bool, lines ...string) bool {
		for _, l := range lines {
			if !s.sleep(b.LineDelay) {
				return false
			}
			w.WriteString(l + "\r\n")
			// Each line goes out on its own, as a slow server's would.
			if err := w.Flush(); err != nil {
				return false
			}
			if counted {
				s.lines.Add(1)
			}
		}
		return true
	}
	say := func(lines ...string) bool { return write(true, lines...) }
	r := bufio.NewReaderSize(c, 4096)
	if b.GreetDelay > 0 {
		if b.DropEarly {
			c.SetReadDeadline(time.Now().Add(b.GreetDelay))
			if _, err := r.Peek(1); err == nil {
				say("521 5.5.1 Protocol error: talked before the greeting")
				return
			}
			c.SetReadDeadline(time.Time{})
			c.SetDeadline(time.Now().Add(2 * time.Minute))
		} else if !s.sleep(b.GreetDelay) {
			return
		}
	}
	if b.RejectGreet != "" {
		say(b.RejectGreet)
		return
	}
	if !say(multi("220", append([]string{b.Name + " ESMTP mxaudit-fleet"}, b.Greeting...))...) {
		return
	}
	tlsOn := b.Implicit
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.TrimSpace(line))
		if i := strings.IndexByte(verb, ' '); i >= 0 {
			verb = verb[:i]
		}
		if (verb == "EHLO" || verb == "HELO") && b.FQDNHELO && !fqdnOrLiteral(line) {
			name := strings.TrimSpace(strings.TrimSpace(line)[4:])
			say("504 5.5.2 <" + name + ">: Helo command rejected: need fully-qualified hostname")
			continue
		}
		switch verb {
		case "EHLO":
			if b.Hostile == EndlessContinuation {
				for {
					if !say("250-" + strings.Repeat("X", 60)) {
						return
					}
				}
			}
			caps := []string{b.Name + " greets you"}
			if b.EHLO == nil {
				caps = append(caps, "PIPELINING", "8BITMIME")
			}
			caps = append(caps, b.EHLO...)
			if !tlsOn && !b.NoStartTLS {
				caps = append(caps, "STARTTLS")
			}
			if !say(multi("250", caps)...) {
				return
			}
		case "HELO":
			say("250 " + b.Name)
		case "STARTTLS":
			if tlsOn || b.NoStartTLS {
				say("502 5.5.1 STARTTLS not available")
				continue
			}
			if b.StartTLS != "" {
				say(b.StartTLS)
				continue
			}
			if !say("220 2.0.0 Ready to start TLS") {
				return
			}
			switch b.Hostile {
			case ResetInHandshake:
				buf := make([]byte, 64)
				c.Read(buf) // part of the ClientHello
				if tcp, ok := c.(*net.TCPConn); ok {
					tcp.SetLinger(0) // RST, not FIN
				}
				return
			case GarbageAfterStartTLS:
				buf := make([]byte, 64)
				c.Read(buf) // part of the ClientHello
				c.Write([]byte("this is not TLS\r\n"))
				s.sleep(200 * time.Millisecond)
				return
			}
			tc := tls.Server(c, tlsConfig(b))
			if err := tc.Handshake(); err != nil {
				return
			}
			c, tlsOn = tc, true
			w, r = bufio.NewWriter(c), bufio.NewReaderSize(c, 4096)
			if b.ClientCertSMTP {
				if why := clientCertProblem(tc.ConnectionState(), b.ClientCAs); why != "" {
					r.ReadString('\n')
					say("421 4.7.1 " + b.Name + " Error: " + why)
					return
				}
			}
		case "QUIT":
			write(false, "221 2.0.0 Bye")
			return
		case "NOOP", "RSET":
			say("250 2.0.0 OK")
		case "MAIL", "RCPT":
			if !b.AcceptMail {
				say("502 5.5.2 Command not implemented")
				continue
			}
			say("250 2.1.0 Ok")
		case "DATA":
			if !b.AcceptMail {
				say("502 5.5.2 Command not implemented")
				continue
			}
			say("354 End data with <CR><LF>.<CR><LF>")
			if !readData(r) {
				return
			}
			s.received.Add(1)
			say("250 2.0.0 Ok: queued")
		default:
			say("502 5.5.2 Command not implemented")
		}
	}
}

// maxData bounds a message the fleet takes.
const maxData = 1 << 20

// readData reads a message up to the line ".", at most maxData bytes.
func readData(r *bufio.Reader) bool {
	n := 0
	for {
		l, err := r.ReadString('\n')
		n += len(l)
		if err != nil || n > maxData {
			return false
		}
		if strings.TrimRight(l, "\r\n") == "." {
			return true
		}
	}
}

func multi(code string, lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		out[i] = code + sep + l
	}
	return out
}

// fqdnOrLiteral reports whether the name in an EHLO/HELO line is a fully
// qualified name or an address literal ("[192.0.2.1]", "[IPv6:...]").
func fqdnOrLiteral(line string) bool {
	f := strings.Fields(line)
	if len(f) < 2 {
		return false
	}
	name := f[1]
	if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
		return true
	}
	i := strings.IndexByte(name, '.')
	return i > 0 && i < len(name)-1
}

func clientAuthFor(postfixStyle bool) tls.ClientAuthType {
	if postfixStyle {
		return tls.RequestClientCert
	}
	return tls.NoClientCert
}

// clientCertProblem says, in Postfix's words, why a client certificate is
// not accepted, or "" when it is.
func clientCertProblem(cs tls.ConnectionState, roots *x509.CertPool) string {
	if len(cs.PeerCertificates) == 0 {
		return "No client certificate presented"
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return "Client certificate not trusted"
	}
	return ""
}
