package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/probe"
)

// now is the fixed clock of every test, as crypto/x509's tests use CurrentTime.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// webPKI is a generated "public" CA (the only root the fetcher is given)
// and a private CA (which must never count).
type webPKI struct {
	public, private *fleet.CA
	roots           *x509.CertPool
}

func newWebPKI(t *testing.T) *webPKI {
	t.Helper()
	pub, err := fleet.NewRoot(fleet.CertSpec{CommonName: "Test Public Root", NotBefore: now.Add(-3650 * day), NotAfter: now.Add(3650 * day)})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := fleet.NewRoot(fleet.CertSpec{CommonName: "Partner Private Root", NotBefore: now.Add(-3650 * day), NotAfter: now.Add(3650 * day)})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(pub.Cert)
	return &webPKI{public: pub, private: priv, roots: roots}
}

func (w *webPKI) issue(t *testing.T, ca *fleet.CA, name string, notAfter time.Time) tls.Certificate {
	t.Helper()
	is, err := ca.Issue(fleet.CertSpec{CommonName: name, DNSNames: []string{name}, NotBefore: now.Add(-30 * day), NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	return is.TLSCert()
}

// policyServer is the fleet's policy server (one HTTPS server on
// 127.0.14.1 that plays mta-sts.DOMAIN for many domains), recording where
// the fetcher was asked to dial.
type policyServer struct {
	*fleet.PolicyServer
	mu     sync.Mutex
	dialed []string
}

func startPolicyServer(t *testing.T) *policyServer {
	t.Helper()
	s, err := fleet.StartPolicyServer("127.0.14.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &policyServer{PolicyServer: s}
}

func (ps *policyServer) serve(domain string, cert tls.Certificate, h http.HandlerFunc) {
	ps.Handle(domain, cert, h)
}

// fetcher returns a Fetcher that dials the policy server whatever the name, and records what it was asked to dial.
func (ps *policyServer) fetcher(roots *x509.CertPool) *Fetcher {
	return &Fetcher{Roots: roots, Now: now, Timeout: 2 * time.Second,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ps.mu.Lock()
			ps.dialed = append(ps.dialed, addr)
			ps.mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, network, ps.Addr)
		}}
}

func text(body string) http.HandlerFunc {
	return typed("text/plain; charset=utf-8", body)
}

func typed(ct, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ct)
		w.Write([]byte(body))
	}
}

const enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.enforce.example\r\nmx: *.mx.enforce.example\r\nmax_age: 604800\r\n"

func TestFetch(t *testing.T) {
	pki := newWebPKI(t)
	ps := startPolicyServer(t)
	valid := func(domain string) tls.Certificate {
		return pki.issue(t, pki.public, PolicyHost(domain), now.Add(90*day))
	}
	tests := []struct {
		domain  string
		cert    tls.Certificate
		handler http.HandlerFunc
		verdict audit.Verdict // "" means fetched
		err     string
		mode    Mode
	}{
		{"enforce.example", valid("enforce.example"), text(enforcePolicy), "", "", Enforce},
		{"testing.example", valid("testing.example"), typed("text/plain", "version: STSv1\nmode: testing\nmx: *.testing.example\nmax_age: 86400\n"), "", "", Testing},
		{"redirect.example", valid("redirect.example"), func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://www.redirect.example/mta-sts.txt", http.StatusMovedPermanently)
		}, audit.StsPolicyFetchError, `HTTP 301 redirect to "https://www.redirect.example/mta-sts.txt"`, ""},
		{"html.example", valid("html.example"), typed("text/html", enforcePolicy), audit.StsPolicyInvalid, `Content-Type "text/html"`, ""},
		{"notype.example", valid("notype.example"), func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Content-Type"] = nil // no sniffing either
			w.Write([]byte(enforcePolicy))
		}, audit.StsPolicyInvalid, `Content-Type ""`, ""},
		{"big.example", valid("big.example"), text(enforcePolicy + strings.Repeat("comment: padding padding padding\n", 2200)), audit.StsPolicyFetchError, "larger than 65536 bytes", ""},
		{"private.example", pki.issue(t, pki.private, "mta-sts.private.example", now.Add(90*day)), text(enforcePolicy), audit.StsWebPkiInvalid, "certificate signed by unknown authority", ""},
		{"wrongname.example", pki.issue(t, pki.public, "www.wrongname.example", now.Add(90*day)), text(enforcePolicy), audit.StsWebPkiInvalid, "not mta-sts.wrongname.example", ""},
		{"expired.example", pki.issue(t, pki.public, "mta-sts.expired.example", now.Add(-day)), text(enforcePolicy), audit.StsWebPkiInvalid, "expired", ""},
		{"missing.example", valid("missing.example"), http.NotFound, audit.StsPolicyFetchError, "HTTP 404", ""},
		{"broken.example", valid("broken.example"), text("version: STSv1\nmode: enforce\nmx: mx1.broken.example\nmax_age: a week\n"), audit.StsPolicyInvalid, `policy line 4: field "max_age"`, ""},
		{"slow.example", valid("slow.example"), func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, audit.StsPolicyFetchError, "", ""},
		{"drip.example", valid("drip.example"), func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("version: STSv1\n"))
			for {
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
					w.Write([]byte("x"))
				}
			}
		}, audit.StsPolicyFetchError, "reading the policy", ""},
	}
	for _, tc := range tests {
		t.Run(tc.domain, func(t *testing.T) {
			ps.serve(tc.domain, tc.cert, tc.handler)
			f := ps.fetcher(pki.roots)
			start := time.Now()
			got, err := f.Fetch(context.Background(), tc.domain)
			if d := time.Since(start); d > f.Timeout+time.Second {
				t.Errorf("Fetch took %v, deadline %v", d, f.Timeout)
			}
			ps.mu.Lock()
			dialed := ps.dialed[len(ps.dialed)-1]
			ps.mu.Unlock()
			if want := "mta-sts." + tc.domain + ":443"; dialed != want {
				t.Errorf("dialed %q, want %q", dialed, want)
			}
			if tc.verdict == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Policy.Mode != tc.mode || len(got.Chain) == 0 || got.URL != "https://mta-sts."+tc.domain+"/.well-known/mta-sts.txt" {
					t.Errorf("fetched %+v", got)
				}
				return
			}
			var fe *FetchError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want a *FetchError", err, err)
			}
			if fe.Verdict != tc.verdict || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %s: %v, want %s: %q", fe.Verdict, err, tc.verdict, tc.err)
			}
		})
	}
	t.Run("system roots do not trust the test CA", func(t *testing.T) {
		_, err := ps.fetcher(nil).Fetch(context.Background(), "enforce.example")
		var fe *FetchError
		if !errors.As(err, &fe) || fe.Verdict != audit.StsWebPkiInvalid {
			t.Errorf("error %v, want StsWebPkiInvalid", err)
		}
	})
	t.Run("nothing listens", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.14.2:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		f := &Fetcher{Roots: pki.roots, Now: now, Timeout: 2 * time.Second, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
		_, err = f.Fetch(context.Background(), "enforce.example")
		var fe *FetchError
		if !errors.As(err, &fe) || fe.Verdict != audit.StsPolicyFetchError || !strings.Contains(err.Error(), "refused") {
			t.Errorf("error %v, want a refused StsPolicyFetchError", err)
		}
	})
}

// mxServer starts an SMTP server for host on ip with cert and probes it as the pipeline would.
func mxServer(t *testing.T, ip, host string, cert tls.Certificate, noTLS bool) MX {
	t.Helper()
	srv, err := fleet.Listen(ip+":0", fleet.Behavior{Name: host, Cert: cert, NoStartTLS: noTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, portStr, _ := net.SplitHostPort(srv.Addr)
	port, _ := strconv.Atoi(portStr)
	obs := probe.Probe(context.Background(), audit.Target{Host: host, Port: port, TLS: audit.StartTLS}, srv.Addr, probe.Options{HELO: "mxaudit.test", Timeout: 10 * time.Second})
	mx := MX{Host: host, TLS: len(obs.Chain) > 0, Chain: obs.Chain}
	if obs.Err != nil {
		mx.TLSError = obs.Err.Error()
	}
	return mx
}

func TestAudit(t *testing.T) {
	pki := newWebPKI(t)
	ps := startPolicyServer(t)
	valid := func(domain string) tls.Certificate {
		return pki.issue(t, pki.public, PolicyHost(domain), now.Add(90*day))
	}
	ps.serve("enforce.example", valid("enforce.example"), text(enforcePolicy))
	ps.serve("testing.example", valid("testing.example"), text("version: STSv1\nmode: testing\nmx: mx1.enforce.example\nmx: *.mx.enforce.example\nmax_age: 3600\n"))
	ps.serve("none.example", valid("none.example"), text("version: STSv1\nmode: none\nmax_age: 86400\n"))
	ps.serve("private.example", pki.issue(t, pki.private, "mta-sts.private.example", now.Add(90*day)), text(enforcePolicy))

	public := func(host string) tls.Certificate { return pki.issue(t, pki.public, host, now.Add(60*day)) }
	mx1 := mxServer(t, "127.0.14.11", "mx1.enforce.example", public("mx1.enforce.example"), false)
	mxWild := mxServer(t, "127.0.14.12", "eu.mx.enforce.example", public("eu.mx.enforce.example"), false)
	mxUnlisted := mxServer(t, "127.0.14.13", "mx2.enforce.example", public("mx2.enforce.example"), false)
	mxDeep := mxServer(t, "127.0.14.14", "a.eu.mx.enforce.example", public("a.eu.mx.enforce.example"), false)
	mxPrivate := mxServer(t, "127.0.14.15", "us.mx.enforce.example", pki.issue(t, pki.private, "us.mx.enforce.example", now.Add(60*day)), false)
	mxExpired := mxServer(t, "127.0.14.16", "old.mx.enforce.example", pki.issue(t, pki.public, "old.mx.enforce.example", now.Add(-2*day)), false)
	mxWrongName := mxServer(t, "127.0.14.17", "ap.mx.enforce.example", public("mail.elsewhere.example"), false)
	mxNoTLS := mxServer(t, "127.0.14.18", "plain.mx.enforce.example", public("plain.mx.enforce.example"), true)
	rec := []string{"v=spf1 -all", "v=STSv1; id=20260601"}

	type outcome struct {
		verdict  audit.Verdict
		severity audit.Severity
		rt       audit.ResultType
		host     string
	}
	tests := []struct {
		name     string
		in       Input
		status   Status
		outcomes []outcome
		findings []string
	}{
		{"enforce, listed MX and wildcard, public certificates", Input{Domain: "enforce.example", TXT: rec, MX: []MX{mx1, mxWild}}, InEnforce, nil, nil},
		{"enforce, an MX not listed", Input{Domain: "enforce.example", TXT: rec, MX: []MX{mx1, mxUnlisted}}, InEnforce,
			[]outcome{{audit.StsMxMismatch, audit.Error, audit.ValidationFailure, "mx2.enforce.example"}}, nil},
		{"enforce, an MX not listed, enforced partner", Input{Domain: "enforce.example", Enforced: true, TXT: rec, MX: []MX{mxUnlisted}}, InEnforce,
			[]outcome{{audit.StsMxMismatch, audit.Critical, audit.ValidationFailure, "mx2.enforce.example"}}, nil},
		{"a wildcard covers one label only", Input{Domain: "enforce.example", TXT: rec, MX: []MX{mxDeep}}, InEnforce,
			[]outcome{{audit.StsMxMismatch, audit.Error, audit.ValidationFailure, "a.eu.mx.enforce.example"}}, nil},
		{"enforce, MX certificate from a private CA", Input{Domain: "enforce.example", TXT: rec, MX: []MX{mxPrivate}}, InEnforce,
			[]outcome{{audit.StsCertificateNotTrusted, audit.Error, audit.CertificateNotTrusted, "us.mx.enforce.example"}}, nil},
		{"enforce, MX certificate expired", Input{Domain: "enforce.example", TXT: rec, MX: []MX{mxExpired}}, InEnforce,
			[]outcome{{audit.StsCertificateNotTrusted, audit.Error, audit.CertificateExpired, "old.mx.enforce.example"}}, nil},
		{"enforce, MX certificate for another name", Input{Domain: "enforce.example", TXT: rec, MX: []MX{mxWrongName}}, InEnforce,
			[]outcome{{audit.StsCertificateNotTrusted, audit.Error, audit.CertificateHostMismatch, "ap.mx.enforce.example"}}, nil},
		{"enforce, MX without STARTTLS", Input{Domain: "enforce.example", TXT: rec, MX: []MX{mxNoTLS}}, InEnforce,
			[]outcome{{audit.StsCertificateNotTrusted, audit.Error, audit.StartTLSNotSupported, "plain.mx.enforce.example"}}, nil},
		{"testing: failures are warnings", Input{Domain: "testing.example", Enforced: true, TXT: rec, MX: []MX{mxUnlisted, mxPrivate}}, InTesting,
			[]outcome{{audit.StsMxMismatch, audit.Warning, audit.ValidationFailure, "mx2.enforce.example"}, {audit.StsCertificateNotTrusted, audit.Warning, audit.CertificateNotTrusted, "us.mx.enforce.example"}},
			[]string{"max_age is 3600"}},
		{"mode none checks nothing", Input{Domain: "none.example", TXT: rec, MX: []MX{mxUnlisted}}, Withdrawn, nil, nil},
		{"no record: no policy, no fetch", Input{Domain: "absent.example", TXT: []string{"v=spf1 -all"}, MX: []MX{mxUnlisted}}, Absent, nil, nil},
		{"two records", Input{Domain: "enforce.example", TXT: []string{"v=STSv1; id=1", "v=STSv1; id=2"}}, Failed,
			[]outcome{{audit.StsPolicyInvalid, audit.Error, audit.STSPolicyInvalid, ""}}, nil},
		{"TXT lookup failed", Input{Domain: "enforce.example", TXTErr: errors.New("SERVFAIL")}, Failed,
			[]outcome{{audit.StsPolicyFetchError, audit.Error, audit.STSPolicyFetchError, ""}}, nil},
		{"policy host with a private CA", Input{Domain: "private.example", TXT: rec, MX: []MX{mx1}}, Failed,
			[]outcome{{audit.StsWebPkiInvalid, audit.Error, audit.STSWebPKIInvalid, ""}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Roots, tc.in.Now = pki.roots, now
			ps.mu.Lock()
			before := len(ps.dialed)
			ps.mu.Unlock()
			got := ps.fetcher(pki.roots).Audit(context.Background(), tc.in)
			if got.Status != tc.status {
				t.Fatalf("status %s, want %s (%+v)", got.Status, tc.status, got.Outcomes)
			}
			ps.mu.Lock()
			fetched := len(ps.dialed) > before
			ps.mu.Unlock()
			if want := tc.status != Absent && !strings.Contains(tc.name, "TXT") && tc.name != "two records"; fetched != want {
				t.Errorf("policy fetched: %v", fetched)
			}
			if len(got.Outcomes) != len(tc.outcomes) {
				t.Fatalf("outcomes %+v, want %+v", got.Outcomes, tc.outcomes)
			}
			for i, w := range tc.outcomes {
				o := got.Outcomes[i]
				if o.Verdict != w.verdict || o.Severity != w.severity || o.ResultType != w.rt || o.Host != w.host || o.Detail == "" {
					t.Errorf("outcome %d = %+v, want %+v", i, o, w)
				}
			}
			if len(got.Findings) != len(tc.findings) {
				t.Fatalf("findings %+v, want %q", got.Findings, tc.findings)
			}
			for i, f := range tc.findings {
				if !strings.Contains(got.Findings[i].Message, f) || got.Findings[i].Check != Check {
					t.Errorf("finding %+v, want %q", got.Findings[i], f)
				}
			}
		})
	}
}
