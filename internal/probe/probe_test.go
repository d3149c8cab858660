package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

// A transcript is a scripted SMTP server (testdata/transcripts/*.txt):
// "S: line" is sent, "C: line" must be what the client sends next, "TLS"
// runs a server handshake ("TLS request-client-cert": one that asks for a
// client certificate; "TLS require-client-cert": one that needs it, then
// hangs up), "SILENT d" asserts the client sends nothing for
// d, "CLOSE" hangs up, "mode: implicit" starts with TLS, and "=> X" is the
// verdict the probe must reach ("ok" for none).
type transcript struct {
	mode   audit.TLSMode
	steps  []string
	expect string
}

func readTranscript(t *testing.T, path string) transcript {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr := transcript{mode: audit.StartTLS}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case l == "mode: implicit":
			tr.mode = audit.Implicit
		case strings.HasPrefix(l, "=> "):
			tr.expect = strings.TrimPrefix(l, "=> ")
		default:
			tr.steps = append(tr.steps, l)
		}
	}
	return tr
}

func testCert(t *testing.T) tls.Certificate {
	t.Helper()
	now := time.Now()
	is, err := fleet.SelfSigned(fleet.CertSpec{CommonName: "mx.example.net", DNSNames: []string{"mx.example.net"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return is.TLSCert()
}

// replay serves one connection from tr and returns what went wrong on the server side.
func replay(t *testing.T, tr transcript, cert tls.Certificate) (addr string, result <-chan error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			ch <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		var conn net.Conn = c
		r := bufio.NewReader(conn)
		// Consecutive server lines go out in one write, as a server sends a reply.
		w := bufio.NewWriter(conn)
		for _, step := range tr.steps {
			if !strings.HasPrefix(step, "S: ") {
				if err := w.Flush(); err != nil {
					ch <- err
					return
				}
			}
			switch {
			case strings.HasPrefix(step, "S: "):
				fmt.Fprintf(w, "%s\r\n", step[3:])
			case strings.HasPrefix(step, "C: "):
				line, err := r.ReadString('\n')
				if err != nil {
					ch <- fmt.Errorf("want %q: %w", step[3:], err)
					return
				}
				if got := strings.TrimRight(line, "\r\n"); got != step[3:] {
					ch <- fmt.Errorf("client sent %q, want %q", got, step[3:])
					return
				}
			case strings.HasPrefix(step, "SILENT "):
				d, _ := time.ParseDuration(step[7:])
				conn.SetReadDeadline(time.Now().Add(d))
				if _, err := r.Peek(1); err == nil {
					ch <- errors.New("client talked before the end of the greeting")
					return
				}
				conn.SetDeadline(time.Now().Add(5 * time.Second))
			case step == "TLS", step == "TLS request-client-cert":
				cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
				if step != "TLS" {
					cfg.ClientAuth = tls.RequestClientCert // asks, and goes on without one
				}
				tc := tls.Server(conn, cfg)
				if err := tc.Handshake(); err != nil {
					ch <- err
					return
				}
				conn, r, w = tc, bufio.NewReader(tc), bufio.NewWriter(tc)
			case step == "TLS require-client-cert":
				// A Postfix with smtpd_tls_req_ccert: the handshake must fail
				// for a client without a certificate, and the session ends.
				tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert})
				if err := tc.Handshake(); err == nil {
					ch <- errors.New("handshake succeeded without a client certificate")
					return
				}
				ch <- nil
				return
			case step == "CLOSE":
				ch <- nil
				return
			default:
				ch <- fmt.Errorf("bad step %q", step)
				return
			}
		}
		ch <- w.Flush()
	}()
	return ln.Addr().String(), ch
}

func TestTranscripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/transcripts/*.txt")
	if len(files) < 8 {
		t.Fatalf("only %d transcripts", len(files))
	}
	cert := testCert(t)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			tr := readTranscript(t, file)
			addr, srv := replay(t, tr, cert)
			obs := Probe(context.Background(), audit.Target{Host: "mx.example.net", TLS: tr.mode}, addr, Options{HELO: "audit.test", Timeout: 5 * time.Second})
			if err := <-srv; err != nil {
				t.Errorf("server: %v", err)
			}
			got := "ok"
			if obs.Err != nil {
				got = string(obs.Err.Verdict)
			}
			if got != tr.expect {
				t.Fatalf("probe ended %s (%v), want %s", got, obs.Err, tr.expect)
			}
			// The client's own record of the dialogue is the script, minus the TLS marks.
			var want []string
			for _, s := range tr.steps {
				if strings.HasPrefix(s, "S: ") || strings.HasPrefix(s, "C: ") {
					want = append(want, s)
				}
			}
			var seen []string
			for _, l := range obs.SMTP.Transcript {
				if !strings.HasPrefix(l, "-- ") {
					seen = append(seen, l)
				}
			}
			if tr.expect == "ok" && !slices.Equal(seen, want) {
				t.Errorf("transcript\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
			}
			if tr.expect == "ok" && (len(obs.Chain) != 1 || obs.TLSVersion == 0) {
				t.Errorf("no chain recorded: %d certs, version %x", len(obs.Chain), obs.TLSVersion)
			}
		})
	}
}

// TestHostile checks that every hostile server costs at most the probe's deadline.
func TestHostile(t *testing.T) {
	cert := testCert(t)
	tests := []struct {
		name string
		b    fleet.Behavior
		mode audit.TLSMode
		want audit.Verdict
	}{
		{"no greeting", fleet.Behavior{NoGreeting: true}, audit.StartTLS, audit.Timeout},
		{"slow drip", fleet.Behavior{Hostile: fleet.SlowDrip}, audit.StartTLS, audit.Timeout},
		{"endless continuation", fleet.Behavior{Hostile: fleet.EndlessContinuation}, audit.StartTLS, audit.ProtocolError},
		{"endless line", fleet.Behavior{Hostile: fleet.EndlessLine}, audit.StartTLS, audit.ProtocolError},
		{"garbage", fleet.Behavior{Hostile: fleet.Garbage}, audit.StartTLS, audit.ProtocolError},
		{"reset in handshake", fleet.Behavior{Hostile: fleet.ResetInHandshake, Cert: cert}, audit.StartTLS, audit.HandshakeFailed},
		{"garbage after STARTTLS", fleet.Behavior{Hostile: fleet.GarbageAfterStartTLS, Cert: cert}, audit.StartTLS, audit.HandshakeFailed},
		{"garbage certificate", fleet.Behavior{Hostile: fleet.GarbageCertificate}, audit.Implicit, audit.HandshakeFailed},
		// Issue 10 item 7: silence, then a TLS handshake on a new connection succeeds.
		{"implicit TLS server spoken to in clear", fleet.Behavior{Implicit: true, Cert: cert}, audit.StartTLS, audit.ProtocolError},
	}
	const deadline = 1500 * time.Millisecond
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := fleet.Listen("127.0.0.1:0", tt.b)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			start := time.Now()
			obs := Probe(context.Background(), audit.Target{Host: "mx.example", TLS: tt.mode}, s.Addr, Options{HELO: "audit.test", Timeout: deadline})
			el := time.Since(start)
			if obs.Err == nil || obs.Err.Verdict != tt.want {
				t.Errorf("got %v, want %s", obs.Err, tt.want)
			}
			if el > deadline+300*time.Millisecond {
				t.Errorf("probe took %v, deadline %v", el, deadline)
			}
		})
	}
}

func TestConnectFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	obs := Probe(context.Background(), audit.Target{Host: "mx.example"}, closed, Options{Timeout: time.Second})
	if obs.Err == nil || obs.Err.Verdict != audit.ConnectionRefused || obs.Err.Phase != "connect" {
		t.Errorf("closed port: %v", obs.Err)
	}
	// Cancelling the run ends a probe at once.
	s, err := fleet.Listen("127.0.0.1:0", fleet.Behavior{NoGreeting: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	Probe(ctx, audit.Target{Host: "mx.example"}, s.Addr, Options{Timeout: 10 * time.Second})
	if el := time.Since(start); el > time.Second {
		t.Errorf("cancelled probe took %v", el)
	}
}

func TestFQDN(t *testing.T) {
	hosts := "127.0.0.1 localhost\n# 10.0.0.5 mx1 old.example.org\n10.0.0.5 mx1 mx1.example.org mx1.internal\n"
	tests := []struct{ host, want string }{
		{"mx1", "mx1.example.org"},
		{"mx2", "mx2"},
		{"relay.example.net", "relay.example.net"},
	}
	for _, tt := range tests {
		if got := fqdn(tt.host, hosts); got != tt.want {
			t.Errorf("fqdn(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
}
