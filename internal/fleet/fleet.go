// Package fleet simulates mail partners on loopback addresses: real SMTP
// servers with real TLS and a generated PKI, one partner per verdict, plus
// hostile servers. The tests of every stage and `mxaudit demo` use it.
package fleet

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// Scenario is one simulated partner: its inventory row, its server and the verdicts it must get.
type Scenario struct {
	Partner audit.Partner
	Server  *Server // nil for partners with nothing listening
	Expect  []audit.Verdict
	Hostile bool // costs up to the probe deadline
	// Domain is set for a partner known by its domain (a row without host,
	// or a host that is not among its domain's MX): found through ServeDNS.
	Domain *DomainScenario
}

// Fleet is a set of running simulated partners and the trust files that go with them.
type Fleet struct {
	Now       time.Time
	Scenarios []Scenario
	// RootsPEM is the "public" root store: pass it as --roots for a hermetic run.
	RootsPEM []byte
	// PrivateRoots are the imported private roots, by file name (PEM or DER).
	PrivateRoots map[string][]byte
	Resolver     *Resolver
	PublicRoot   *CA
	// Policies serves the MTA-STS policies of a DomainBench with Published; nil otherwise.
	Policies    *PolicyServer
	PublicInter *CA
	closers     []func()
	rotated     *CA // issuer of rotated certificates
	pki         *pkiServer
	secure      []string // zones whose answers carry the AD bit (ServeDNS)
	// The domain partners (Options.Domains): their zone data and forced
	// answers for ServeDNS, and the ports their servers listen on.
	zone          []string
	rcodes        map[string]int
	port, altPort int
	servers       []*Server // servers of no scenario of their own (shared MX hosts)
}

// Options chooses what a fleet simulates.
type Options struct {
	Now       time.Time     // the clock certificates are made against; default time.Now()
	LineDelay time.Duration // added before every SMTP reply line
	Hostile   bool          // include hostile and slow servers
	// NoDNS leaves out the partner whose host name must fail to resolve:
	// with the system resolver it would cause a real DNS query.
	NoDNS bool
	// Domains adds partners known by their domain only (two MX, one broken;
	// an IPv6-only MX on ::1; an implicit MX; a null MX; partners sharing a
	// provider's MX; DNS failures; a row whose host is not an MX of its
	// domain): a run finds them through the DNS server ServeDNS starts.
	Domains bool
	// Policies adds partners that publish DANE, MTA-STS and TLS-RPT, one
	// per verdict of the published policies (see SecureZone).
	Policies bool
}

var nextIP atomic.Uint32

// loopback hands out addresses 127.0.0.2 .. 127.255.255.254 in turn, so
// each simulated partner has an address of its own (Linux answers on all of 127/8).
func loopback() string {
	n := nextIP.Add(1)
	n = n%(1<<24-3) + 2
	return fmt.Sprintf("127.%d.%d.%d", n>>16&0xff, n>>8&0xff, n&0xff)
}

// Partners returns the inventory rows of every scenario.
func (f *Fleet) Partners() []audit.Partner {
	out := make([]audit.Partner, len(f.Scenarios))
	for i, s := range f.Scenarios {
		out[i] = s.Partner
	}
	return out
}

// Expect returns the verdicts each partner must get, by partner name.
func (f *Fleet) Expect() map[string][]audit.Verdict {
	m := map[string][]audit.Verdict{}
	for _, s := range f.Scenarios {
		m[s.Partner.Name] = s.Expect
	}
	return m
}

// Close stops every server.
func (f *Fleet) Close() {
	for _, c := range f.closers {
		c()
	}
}

// RootsPool returns the fleet's public roots as a pool.
func (f *Fleet) RootsPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(f.RootsPEM)
	return p
}

// WriteFiles writes inventory.csv, roots.pem and private-roots/ into dir and returns their paths.
func (f *Fleet) WriteFiles(dir string) (inventory, roots, privateDir string, err error) {
	inventory = filepath.Join(dir, "inventory.csv")
	roots = filepath.Join(dir, "roots.pem")
	privateDir = filepath.Join(dir, "private-roots")
	if err = os.MkdirAll(privateDir, 0o755); err != nil {
		return
	}
	if err = os.WriteFile(inventory, f.InventoryCSV(), 0o644); err != nil {
		return
	}
	if err = os.WriteFile(roots, f.RootsPEM, 0o644); err != nil {
		return
	}
	for name, b := range f.PrivateRoots {
		if err = os.WriteFile(filepath.Join(privateDir, name), b, 0o644); err != nil {
			return
		}
	}
	return
}

// InventoryCSV renders the scenarios as an inventory file.
func (f *Fleet) InventoryCSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"partner", "domain", "host", "address", "port", "tls", "enforced", "contact", "expected_issuer", "expected_subject", "private_root", "notes"})
	for _, s := range f.Scenarios {
		p := s.Partner
		w.Write([]string{p.Name, p.Domain, p.Host, p.Address, strconv.Itoa(p.Port), string(p.TLS), strconv.FormatBool(p.Enforced), p.Contact, p.ExpectedIssuer, p.ExpectedSubject, p.PrivateRoot, p.Notes})
	}
	w.Flush()
	return b.Bytes()
}

// Resolver answers host names from a fixed table and NXDOMAIN for the
// rest, so simulated partners never cause a real DNS query.
type Resolver struct{ hosts map[string][]string }

// LookupHost returns the addresses of host from the table.
func (r *Resolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := r.hosts[strings.ToLower(host)]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

type pki struct {
	now                                   time.Time
	pubRoot, pubInter, private, other     *CA
	expiredRoot, expiringRoot, legacyRoot *CA
	// contosoRoot is a private root nobody imported; contosoInter is the
	// intermediate its partner's OpenSSL-based MTA sends with the leaf.
	contosoRoot, contosoInter *CA
	// muellerSHA1 is an intermediate the imported Müller root signed with SHA-1.
	muellerSHA1 *CA
}

func day(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func newPKI(now time.Time) (*pki, error) {
	p := &pki{now: now}
	var err error
	long := CertSpec{NotBefore: now.Add(-day(365)), NotAfter: now.Add(day(3650))}
	mk := func(cn, org string, spec CertSpec) *CA {
		if err != nil {
			return nil
		}
		spec.CommonName, spec.Org = cn, org
		var ca *CA
		ca, err = NewRoot(spec)
		return ca
	}
	p.pubRoot = mk("Fleet Public Root CA", "Fleet Trust Services", long)
	p.private = mk("Müller Internal Root CA", "Müller GmbH", long)
	p.other = mk("Société Interne Root CA", "Société Générale Test", long)
	p.expiredRoot = mk("Expired Partner Root CA", "Old Partner AG", CertSpec{NotBefore: now.Add(-day(3650)), NotAfter: now.Add(-day(5))})
	p.expiringRoot = mk("Expiring Partner Root CA", "株式会社テスト", CertSpec{NotBefore: now.Add(-day(3650)), NotAfter: now.Add(day(45))})
	p.legacyRoot = mk("Legacy Partner Root CA", "Legacy Partner Ltd", long)
	p.contosoRoot = mk("Contoso Private Root CA", "Contoso Ltd", long)
	if err != nil {
		return nil, err
	}
	if p.contosoInter, err = p.contosoRoot.SubCA(CertSpec{CommonName: "Contoso Mail Issuing CA", Org: "Contoso Ltd", NotBefore: long.NotBefore, NotAfter: long.NotAfter}); err != nil {
		return nil, err
	}
	if p.muellerSHA1, err = p.private.SubCA(CertSpec{CommonName: "Müller Legacy Issuing CA", Org: "Müller GmbH", NotBefore: long.NotBefore, NotAfter: long.NotAfter, SigAlg: x509.ECDSAWithSHA1}); err != nil {
		return nil, err
	}
	p.pubInter, err = p.pubRoot.SubCA(CertSpec{CommonName: "Fleet Issuing CA 1", Org: "Fleet Trust Services", NotBefore: now.Add(-day(300)), NotAfter: now.Add(day(1800))})
	return p, err
}

func (p *pki) leaf(ca *CA, names ...string) CertSpec {
	return CertSpec{CommonName: names[0], DNSNames: names, NotBefore: p.now.Add(-day(30)), NotAfter: p.now.Add(day(200))}
}

// Start runs the standard fleet: one partner per verdict (and hostile servers with opts.Hostile).
func Start(opts Options) (*Fleet, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	p, err := newPKI(opts.Now)
	if err != nil {
		return nil, err
	}
	f := &Fleet{
		Now:         opts.Now,
		RootsPEM:    PEM(p.pubRoot.Cert),
		Resolver:    &Resolver{hosts: map[string][]string{}},
		PublicRoot:  p.pubRoot,
		PublicInter: p.pubInter,
		rcodes:      map[string]int{},
		PrivateRoots: map[string][]byte{
			"mueller-root.pem":  PEM(p.private.Cert),
			"expired-root.cer":  p.expiredRoot.Cert.Raw,
			"expiring-root.crt": PEM(p.expiringRoot.Cert),
			"legacy-root.pem":   PEM(p.legacyRoot.Cert),
		},
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	ps, err := startPKIServer(p.pubInter, opts.Now)
	if err != nil {
		return nil, err
	}
	f.closers = append(f.closers, func() { ps.Close() })
	f.pki = ps
	for _, sc := range scenarios(p, opts) {
		if opts.NoDNS && sc.noAddr {
			continue
		}
		if err := f.add(sc, opts); err != nil {
			return nil, fmt.Errorf("fleet: %s: %w", sc.name, err)
		}
	}
	if opts.Domains {
		if err := f.addDomains(p, opts); err != nil {
			return nil, fmt.Errorf("fleet: domain partners: %w", err)
		}
	}
	if opts.Policies {
		if err := f.addPolicies(p, opts); err != nil {
			return nil, fmt.Errorf("fleet: policy partners: %w", err)
		}
	}
	ok = true
	return f, nil
}

type scenario struct {
	name, domain, host string
	enforced           bool
	tls                audit.TLSMode
	ca                 *CA                 // issuer of the leaf; nil with selfSigned
	spec               CertSpec            // leaf
	chain              []*x509.Certificate // sent after the leaf
	b                  Behavior
	issuer, subject    string // pins
	privateRoot        string
	expect             []audit.Verdict
	noServer, noAddr   bool
	hostile            bool
	selfSigned         bool
	shared             bool // uses the server of the scenario before it with the same host
	revocation         revocationCase
	contact            string
}

func scenarios(p *pki, opts Options) []scenario {
	now := p.now
	pubChain := []*x509.Certificate{p.pubInter.Cert}
	V := func(vs ...audit.Verdict) []audit.Verdict { return vs }
	expired := p.leaf(nil, "mx.expired.example")
	expired.NotBefore, expired.NotAfter = now.Add(-day(400)), now.Add(-day(10))
	misnamedExpired := p.leaf(nil, "mail.other-name.example")
	misnamedExpired.NotBefore, misnamedExpired.NotAfter = now.Add(-day(400)), now.Add(-day(3))
	future := p.leaf(nil, "mx.future.example")
	future.NotBefore = now.Add(day(7))
	weakKey := p.leaf(nil, "mx.weakkey.example")
	weakKey.RSABits = 1024
	weakSig := p.leaf(nil, "mx.sha1.example")
	weakSig.SigAlg = x509.ECDSAWithSHA1
	clientOnly := p.leaf(nil, "mx.clientauth.example")
	clientOnly.ExtKeyUse = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	legacy := Behavior{MaxVersion: tls.VersionTLS10}

	list := []scenario{
		{name: "Valid Corp", domain: "valid.example", host: "mx.valid.example", enforced: true, ca: p.pubInter, spec: p.leaf(nil, "mx.valid.example", "valid.example"), chain: pubChain, expect: V(audit.Valid), contact: "tls-admin@valid.example", privateRoot: "legacy-root.pem"},
		{name: "Implicit TLS AG", domain: "implicit.example", host: "smtps.implicit.example", tls: audit.Implicit, ca: p.pubInter, spec: p.leaf(nil, "smtps.implicit.example"), chain: pubChain, expect: V(audit.Valid)},
		{name: "Müller GmbH", domain: "mueller.example", host: "mx.mueller.example", enforced: true, ca: p.private, spec: p.leaf(nil, "mx.mueller.example", "mueller.example"), chain: []*x509.Certificate{p.private.Cert}, b: Behavior{Greeting: []string{"Willkommen bei Müller", "Bitte nur verschlüsselt"}, EHLO: []string{"PIPELINING", "SIZE 52428800", "ENHANCEDSTATUSCODES"}}, privateRoot: "mueller-root.pem", expect: V(audit.Valid), contact: "it@mueller.example"},
		{name: "Société Générale Test", domain: "societe.example", host: "mx.societe.example", enforced: true, ca: p.other, spec: p.leaf(nil, "mx.societe.example", "societe.example"), chain: []*x509.Certificate{p.other.Cert}, expect: V(audit.UntrustedRoot), contact: "pki@societe.example"},
		{name: "Partial Chain Inc", domain: "partial.example", host: "mx.partial.example", enforced: true, ca: p.pubInter, spec: p.leaf(nil, "mx.partial.example", "partial.example"), expect: V(audit.PartialChain), contact: "postmaster@partial.example"},
		{name: "Self Signed Ltd", domain: "selfsigned.example", host: "mx.selfsigned.example", selfSigned: true, spec: p.leaf(nil, "mx.selfsigned.example"), expect: V(audit.SelfSigned)},
		{name: "Expired Ltd", domain: "expired.example", host: "mx.expired.example", enforced: true, ca: p.pubInter, spec: expired, chain: pubChain, expect: V(audit.Expired), contact: "admin@expired.example"},
		{name: "Expired and Misnamed", domain: "misnamed.example", host: "mx.misnamed.example", ca: p.pubInter, spec: misnamedExpired, chain: pubChain, expect: V(audit.Expired, audit.NameMismatch)},
		{name: "Future Certs SA", domain: "future.example", host: "mx.future.example", ca: p.pubInter, spec: future, chain: pubChain, expect: V(audit.NotYetValid)},
		{name: "Wrong Name BV", domain: "wrongname.example", host: "mx.wrongname.example", ca: p.pubInter, spec: p.leaf(nil, "mail.wrongname-old.example"), chain: pubChain, expect: V(audit.NameMismatch)},
		{name: "Weak Key Oy", domain: "weakkey.example", host: "mx.weakkey.example", ca: p.pubInter, spec: weakKey, chain: pubChain, expect: V(audit.WeakKey)},
		{name: "SHA-1 Bank", domain: "sha1.example", host: "mx.sha1.example", ca: p.pubInter, spec: weakSig, chain: pubChain, expect: V(audit.WeakSignature)},
		{name: "Client Cert Only", domain: "clientauth.example", host: "mx.clientauth.example", ca: p.pubInter, spec: clientOnly, chain: pubChain, expect: V(audit.WrongUsage)},
		{name: "Ελληνική Ναυτιλία", domain: "greek-shipping.example", host: "mx.hosted-mail.example", enforced: true, ca: p.pubInter, spec: p.leaf(nil, "mx.hosted-mail.example"), chain: pubChain, expect: V(audit.DomainMismatch), contact: "it@greek-shipping.example"},
		{name: "Сбербанк Тест", domain: "sber.example", host: "mx.sber.example", ca: p.pubInter, spec: p.leaf(nil, "mx.sber.example"), chain: pubChain, issuer: "CN=Fleet Issuing CA 0, O=Fleet Trust Services", expect: V(audit.IssuerChanged)},
		{name: "Legacy TLS GmbH", domain: "legacy.example", host: "mx.legacy.example", ca: p.pubInter, spec: p.leaf(nil, "mx.legacy.example"), chain: pubChain, b: legacy, expect: V(audit.Valid)},
		{name: "Expired Root AG", domain: "oldroot.example", host: "mx.oldroot.example", enforced: true, ca: p.expiredRoot, spec: p.leaf(nil, "mx.oldroot.example", "oldroot.example"), privateRoot: "expired-root.cer", expect: V(audit.Expired), contact: "pki@oldroot.example"},
		{name: "株式会社テスト", domain: "kabushiki.example", host: "mx.kabushiki.example", ca: p.expiringRoot, spec: p.leaf(nil, "mx.kabushiki.example"), privateRoot: "expiring-root.crt", expect: V(audit.Valid)},
		{name: "No STARTTLS Co", domain: "plain.example", host: "mx.plain.example", enforced: true, b: Behavior{NoStartTLS: true}, expect: V(audit.NoStartTLS)},
		{name: "STARTTLS Refused Ltd", domain: "refused-tls.example", host: "mx.refused-tls.example", ca: p.pubInter, spec: p.leaf(nil, "mx.refused-tls.example"), b: Behavior{StartTLS: "454 4.7.0 TLS not available due to local problem"}, expect: V(audit.StartTLSRefused)},
		{name: "Broken TLS Proxy", domain: "proxy.example", host: "mx.proxy.example", ca: p.pubInter, spec: p.leaf(nil, "mx.proxy.example"), b: Behavior{Hostile: GarbageAfterStartTLS}, expect: V(audit.HandshakeFailed)},
		{name: "Closed Port Inc", domain: "closed.example", host: "mx.closed.example", noServer: true, expect: V(audit.ConnectionRefused)},
		{name: "Gone Away Ltd", domain: "gone.example", host: "mx.gone.example", noServer: true, noAddr: true, expect: V(audit.DNSError)},
		{name: "Rejecting Relay", domain: "reject.example", host: "mx.reject.example", b: Behavior{RejectGreet: "554 5.7.1 No SMTP service here"}, expect: V(audit.ProtocolError)},
		{name: "Revoked Cert GmbH", domain: "revoked.example", host: "mx.revoked.example", enforced: true, ca: p.pubInter, spec: p.leaf(nil, "mx.revoked.example", "revoked.example"), chain: pubChain, revocation: revoked, expect: V(audit.Revoked), contact: "pki@revoked.example"},
		{name: "CRL Offline AG", domain: "crl-offline.example", host: "mx.crl-offline.example", enforced: true, ca: p.pubInter, spec: p.leaf(nil, "mx.crl-offline.example", "crl-offline.example"), chain: pubChain, revocation: crlOffline, expect: V(audit.RevocationOffline)},
		// Every OpenSSL/GnuTLS MTA of a private CA sends leaf and intermediate,
		// never the root; here the root was never imported (issue 10, item 2).
		{name: "Contoso Private CA", domain: "contoso.example", host: "mx.contoso.example", enforced: true, ca: p.contosoInter, spec: p.leaf(nil, "mx.contoso.example", "contoso.example"), chain: []*x509.Certificate{p.contosoInter.Cert}, expect: V(audit.PartialChain), contact: "pki@contoso.example"},
		// A SHA-1 intermediate under an imported private root: Windows accepts
		// it, Go does not; a warning (issue 10, item 6).
		{name: "Müller Legacy Mail", domain: "legacy.mueller.example", host: "mx.legacy.mueller.example", ca: p.muellerSHA1, spec: p.leaf(nil, "mx.legacy.mueller.example"), chain: []*x509.Certificate{p.muellerSHA1.Cert}, privateRoot: "mueller-root.pem", expect: V(audit.WeakSignature)},
		{name: "AIA Rescue Ltd", domain: "aia.example", host: "mx.aia.example", ca: p.pubInter, spec: p.leaf(nil, "mx.aia.example"), revocation: aiaIssuer, expect: V(audit.PartialChain)},
		{name: "Shared Hosting A", domain: "a.shared.example", host: "mx.shared-host.example", ca: p.pubInter, spec: p.leaf(nil, "mx.shared-host.example"), chain: pubChain, expect: V(audit.Valid)},
		{name: "Shared Hosting B", domain: "b.shared.example", host: "mx.shared-host.example", shared: true, expect: V(audit.Valid)},
	}
	if opts.Hostile {
		list = append(list,
			scenario{name: "Silent Server", domain: "silent.example", host: "mx.silent.example", b: Behavior{NoGreeting: true}, expect: V(audit.Timeout), hostile: true},
			scenario{name: "Endless EHLO", domain: "endless.example", host: "mx.endless.example", b: Behavior{Hostile: EndlessContinuation}, expect: V(audit.ProtocolError), hostile: true},
			scenario{name: "Endless Line", domain: "endless-line.example", host: "mx.endless-line.example", b: Behavior{Hostile: EndlessLine}, expect: V(audit.ProtocolError), hostile: true},
			scenario{name: "Slow Drip", domain: "drip.example", host: "mx.drip.example", b: Behavior{Hostile: SlowDrip}, expect: V(audit.Timeout), hostile: true},
			scenario{name: "Garbage Talker", domain: "garbage.example", host: "mx.garbage.example", b: Behavior{Hostile: Garbage}, expect: V(audit.ProtocolError), hostile: true},
			scenario{name: "Reset Handshake", domain: "reset.example", host: "mx.reset.example", ca: p.pubInter, spec: p.leaf(nil, "mx.reset.example"), b: Behavior{Hostile: ResetInHandshake}, expect: V(audit.HandshakeFailed), hostile: true},
			scenario{name: "Garbage Certificate", domain: "garbage-cert.example", host: "mx.garbage-cert.example", tls: audit.Implicit, b: Behavior{Hostile: GarbageCertificate}, expect: V(audit.HandshakeFailed), hostile: true},
			scenario{name: "Postscreen Wait", domain: "postscreen.example", host: "mx.postscreen.example", ca: p.pubInter, spec: p.leaf(nil, "mx.postscreen.example"), chain: pubChain, b: Behavior{GreetDelay: 1500 * time.Millisecond, DropEarly: true}, expect: V(audit.Valid), hostile: true},
		)
	}
	return list
}

type revocationCase int

const (
	crlGood    revocationCase = iota
	revoked                   // the leaf is on the CA's CRL
	crlOffline                // the leaf's CRL URL answers nothing
	aiaIssuer                 // the leaf names its issuer's AIA URL
)

func (f *Fleet) add(sc scenario, opts Options) error {
	mode := sc.tls
	if mode == "" {
		mode = audit.StartTLS
	}
	port := 25
	if mode == audit.Implicit {
		port = audit.ImplicitTLSPort
	}
	p := audit.Partner{Name: sc.name, Domain: sc.domain, Host: sc.host, Port: port, TLS: mode, Enforced: sc.enforced,
		Contact: sc.contact, ExpectedIssuer: sc.issuer, ExpectedSubject: sc.subject, PrivateRoot: sc.privateRoot}
	var srv *Server
	switch {
	case sc.noAddr:
	case sc.noServer:
		ln, err := net.Listen("tcp", loopback()+":0")
		if err != nil {
			return err
		}
		p.Address = ln.Addr().String()
		ln.Close()
	case sc.shared:
		// shares the server of the previous scenario with the same host
		for _, prev := range f.Scenarios {
			if prev.Partner.Host == sc.host && prev.Server != nil {
				p.Address, p.Port, p.TLS = prev.Partner.Address, prev.Partner.Port, prev.Partner.TLS
				srv = prev.Server
			}
		}
	default:
		b := sc.b
		b.Name = sc.host
		b.Implicit = mode == audit.Implicit
		b.LineDelay = opts.LineDelay
		switch {
		case sc.selfSigned:
			is, err := SelfSigned(sc.spec)
			if err != nil {
				return err
			}
			b.Cert = is.TLSCert()
		case sc.ca != nil:
			spec := sc.spec
			if sc.ca == f.PublicInter && f.pki != nil {
				// Like a public CA's: a CRL distribution point, served by the fleet.
				spec.CRLURLs = []string{f.pki.CRLURL()}
				switch sc.revocation {
				case crlOffline:
					spec.CRLURLs = []string{closedURL("/issuing-ca-1.crl")}
				case aiaIssuer:
					spec.IssuerURLs = []string{f.pki.IssuerURL()}
				}
			}
			is, err := sc.ca.Issue(spec)
			if err != nil {
				return err
			}
			if sc.revocation == revoked && f.pki != nil {
				f.pki.revoke(is.Cert.SerialNumber, 1) // keyCompromise
			}
			b.Cert = is.TLSCert(sc.chain...)
		}
		s, err := Listen(loopback()+":0", b)
		if err != nil {
			return err
		}
		f.closers = append(f.closers, func() { s.Close() })
		srv = s
		p.Address = s.Addr
	}
	// The port column must agree with the port in the address.
	if _, ps, err := net.SplitHostPort(p.Address); err == nil {
		p.Port, _ = strconv.Atoi(ps)
	}
	f.Scenarios = append(f.Scenarios, Scenario{Partner: p, Server: srv, Expect: sc.expect, Hostile: sc.hostile})
	return nil
}

// Scenario returns the scenario of the partner called name, or nil.
func (f *Fleet) Scenario(name string) *Scenario {
	for i := range f.Scenarios {
		if f.Scenarios[i].Partner.Name == name {
			return &f.Scenarios[i]
		}
	}
	return nil
}

// Rotate gives a partner a new certificate for the same names from a
// second issuing CA whose name differs only in its number — the story of
// a receive connector still pinned to the old issuer.
func (f *Fleet) Rotate(name string) error {
	sc := f.Scenario(name)
	if sc == nil || sc.Server == nil {
		return fmt.Errorf("fleet: no server for partner %q", name)
	}
	if f.rotated == nil {
		now := f.Now
		ca, err := f.PublicRoot.SubCA(CertSpec{CommonName: "Fleet Issuing CA 2", Org: "Fleet Trust Services", NotBefore: now.Add(-day(10)), NotAfter: now.Add(day(1800))})
		if err != nil {
			return err
		}
		f.rotated = ca
	}
	old := sc.Server.behavior().Cert.Leaf
	is, err := f.rotated.Issue(CertSpec{CommonName: old.Subject.CommonName, DNSNames: old.DNSNames, NotBefore: f.Now.Add(-day(1)), NotAfter: f.Now.Add(day(398))})
	if err != nil {
		return err
	}
	sc.Server.Update(func(b *Behavior) { b.Cert = is.TLSCert(f.rotated.Cert) })
	return nil
}
