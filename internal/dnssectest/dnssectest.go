// Package dnssectest starts a real validating resolver for tests: Debian's
// unbound on 127.0.0.1, with trust anchors for test zones that nsd serves
// on another loopback port, signed with real keys by ldns-keygen and
// ldns-signzone in a temporary directory.
//
// Tests skip with a message when a tool is missing, and fail instead when
// the environment variable CI is "true". Nothing listens or is queried
// beyond 127.0.0.1: unbound sends from 127.0.0.1 only.
package dnssectest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Tools the harness runs, by path.
var (
	Unbound      = "/usr/sbin/unbound"
	NSD          = "/usr/sbin/nsd"
	LDNSKeygen   = "ldns-keygen"
	LDNSSignzone = "ldns-signzone"
)

// Signing says how a zone is signed.
type Signing int

// Signings.
const (
	Unsigned Signing = iota // no DNSSEC, no trust anchor: answers come without AD
	Signed                  // signed, with a trust anchor: answers are secure (AD)
	Expired                 // signed with signatures that expired in 2020, with a trust anchor: bogus, SERVFAIL
)

// Zone is one zone to serve.
type Zone struct {
	Origin  string   // e.g. "dane.test" (the trailing dot is optional)
	Records []string // zone-file lines; names relative to Origin; SOA and NS are added
	Signing Signing
}

// Resolver is a running unbound in front of a running nsd.
type Resolver struct {
	Addr string // unbound's 127.0.0.1:port, for UDP and TCP
	NSD  string // nsd's 127.0.0.1:port
	Dir  string // the working directory (configurations, zones, keys, logs)

	procs []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncWriter
	done chan struct{}
}

// Require skips t when unbound, nsd or the ldns tools are missing, or fails it when CI=true.
func Require(t testing.TB) {
	t.Helper()
	for _, tool := range []string{Unbound, NSD, LDNSKeygen, LDNSSignzone} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("dnssectest: %s not found (Debian packages unbound, nsd, ldnsutils): %v", tool, err)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			} else {
				t.Skip(msg)
			}
			return
		}
	}
}

// Start signs zones, starts nsd and unbound, waits until unbound answers
// for every zone, and stops both when t ends.
func Start(t testing.TB, zones ...Zone) *Resolver {
	t.Helper()
	Require(t)
	r := &Resolver{Dir: t.TempDir()}
	t.Cleanup(r.stop)
	var anchors []string
	for i := range zones {
		z := &zones[i]
		z.Origin = dns.Fqdn(z.Origin)
		anchor, err := r.writeZone(z)
		if err != nil {
			t.Fatalf("dnssectest: zone %s: %v", z.Origin, err)
		}
		if anchor != "" {
			anchors = append(anchors, anchor)
		}
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = r.start(zones, anchors); err == nil {
			return r
		}
		r.stop()
		r.procs = nil
	}
	t.Fatalf("dnssectest: %v", err)
	return nil
}

// writeZone writes z's zone file (signed when asked) and returns the path of its trust anchor (a DS file), if any.
func (r *Resolver) writeZone(z *Zone) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 300\n", z.Origin)
	fmt.Fprintf(&b, "@ IN SOA ns.%s hostmaster.%s 1 3600 600 86400 300\n", z.Origin, z.Origin)
	fmt.Fprintf(&b, "@ IN NS ns.%s\nns IN A 127.0.0.1\n", z.Origin)
	for _, rec := range z.Records {
		b.WriteString(rec + "\n")
	}
	file := filepath.Join(r.Dir, z.Origin+"zone")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return "", err
	}
	if z.Signing == Unsigned {
		return "", nil
	}
	out, err := r.run(LDNSKeygen, "-a", "ECDSAP256SHA256", "-k", "-r", "/dev/urandom", z.Origin)
	if err != nil {
		return "", err
	}
	key := strings.TrimSpace(out)
	args := []string{"-o", z.Origin, "-f", file + ".signed"}
	if z.Signing == Expired {
		args = append(args, "-i", "20191201000000", "-e", "20200101000000")
	}
	args = append(args, file, key)
	if _, err := r.run(LDNSSignzone, args...); err != nil {
		return "", err
	}
	if err := os.Rename(file+".signed", file); err != nil {
		return "", err
	}
	return filepath.Join(r.Dir, key+".ds"), nil
}

func (r *Resolver) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = r.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// freePort returns a port that is free for both TCP and UDP on 127.0.0.1.
func freePort() (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port on 127.0.0.1")
}

func (r *Resolver) start(zones []Zone, anchors []string) error {
	nsdPort, err := freePort()
	if err != nil {
		return err
	}
	var nsd strings.Builder
	fmt.Fprintf(&nsd, `server:
	ip-address: 127.0.0.1
	port: %d
	do-ip6: no
	username: ""
	chroot: ""
	zonesdir: %q
	pidfile: %q
	database: ""
	zonelistfile: %q
	xfrdfile: %q
	xfrdir: %q
	logfile: %q
	server-count: 1
	verbosity: 1
	hide-version: yes
remote-control:
	control-enable: no
`, nsdPort, r.Dir, filepath.Join(r.Dir, "nsd.pid"), filepath.Join(r.Dir, "zone.list"),
		filepath.Join(r.Dir, "xfrd.state"), r.Dir, filepath.Join(r.Dir, "nsd.log"))
	for _, z := range zones {
		fmt.Fprintf(&nsd, "zone:\n\tname: %q\n\tzonefile: %q\n", z.Origin, z.Origin+"zone")
	}
	nsdConf := filepath.Join(r.Dir, "nsd.conf")
	if err := os.WriteFile(nsdConf, []byte(nsd.String()), 0o644); err != nil {
		return err
	}
	r.NSD = fmt.Sprintf("127.0.0.1:%d", nsdPort)
	if err := r.spawn("nsd", NSD, "-d", "-c", nsdConf); err != nil {
		return err
	}
	for _, z := range zones {
		if err := r.wait(r.NSD, z.Origin, false); err != nil {
			return fmt.Errorf("nsd: %w", err)
		}
	}

	port, err := freePort()
	if err != nil {
		return err
	}
	var ub strings.Builder
	fmt.Fprintf(&ub, `server:
	interface: 127.0.0.1
	port: %d
	outgoing-interface: 127.0.0.1
	do-ip4: yes
	do-ip6: no
	do-udp: yes
	do-tcp: yes
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	chroot: ""
	username: ""
	directory: %q
	pidfile: %q
	logfile: %q
	use-syslog: no
	verbosity: 1
	num-threads: 1
	so-reuseport: no
	module-config: "validator iterator"
	qname-minimisation: no
	prefetch: no
	ede: yes
	val-log-level: 2
	auto-trust-anchor-file: ""
`, port, r.Dir, filepath.Join(r.Dir, "unbound.pid"), filepath.Join(r.Dir, "unbound.log"))
	for _, a := range anchors {
		fmt.Fprintf(&ub, "\ttrust-anchor-file: %q\n", a)
	}
	// unbound answers NXDOMAIN itself for the special-use names (test.,
	// invalid., ...) unless told not to.
	tlds := map[string]bool{}
	for _, z := range zones {
		labels := dns.SplitDomainName(z.Origin)
		if tld := labels[len(labels)-1] + "."; !tlds[tld] {
			tlds[tld] = true
			fmt.Fprintf(&ub, "\tlocal-zone: %q nodefault\n", tld)
		}
	}
	for _, z := range zones {
		fmt.Fprintf(&ub, "stub-zone:\n\tname: %q\n\tstub-addr: 127.0.0.1@%d\n", z.Origin, nsdPort)
	}
	ub.WriteString("remote-control:\n\tcontrol-enable: no\n")
	ubConf := filepath.Join(r.Dir, "unbound.conf")
	if err := os.WriteFile(ubConf, []byte(ub.String()), 0o644); err != nil {
		return err
	}
	r.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	if err := r.spawn("unbound", Unbound, "-d", "-c", ubConf); err != nil {
		return err
	}
	for _, z := range zones {
		if z.Signing == Expired {
			continue // it answers SERVFAIL, by design
		}
		if err := r.wait(r.Addr, z.Origin, true); err != nil {
			return fmt.Errorf("unbound: %w", err)
		}
	}
	return nil
}

func (r *Resolver) spawn(name, path string, args ...string) error {
	p := &proc{name: name, cmd: exec.Command(path, args...), out: &syncWriter{}, done: make(chan struct{})}
	p.cmd.Dir = r.Dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	dieWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	r.procs = append(r.procs, p)
	return nil
}

// wait queries server for origin's SOA until it answers (NOERROR), for at most 10 s.
func (r *Resolver) wait(server, origin string, recursive bool) error {
	deadline := time.Now().Add(10 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		for _, p := range r.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited: %s%s", p.name, p.out.String(), r.logs())
			default:
			}
		}
		m := new(dns.Msg)
		m.SetQuestion(origin, dns.TypeSOA)
		m.RecursionDesired = recursive
		c := &dns.Client{Timeout: 500 * time.Millisecond}
		in, _, err := c.Exchange(m, server)
		if err == nil && in.Rcode == dns.RcodeSuccess {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("%s SOA: %s", origin, dns.RcodeToString[in.Rcode])
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer for %s within 10s: %v%s", server, origin, last, r.logs())
}

func (r *Resolver) logs() string {
	var b strings.Builder
	for _, f := range []string{"nsd.log", "unbound.log"} {
		if data, err := os.ReadFile(filepath.Join(r.Dir, f)); err == nil && len(data) > 0 {
			fmt.Fprintf(&b, "\n--- %s\n%s", f, data)
		}
	}
	return b.String()
}

func (r *Resolver) stop() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		p := r.procs[i]
		if p.cmd.Process != nil {
			p.cmd.Process.Signal(os.Interrupt)
			select {
			case <-p.done:
			case <-time.After(3 * time.Second):
				p.cmd.Process.Kill()
				<-p.done
			}
		}
	}
}

// Query sends one recursive query with the DO bit to the resolver, over
// UDP (falling back to TCP when truncated), with a 5 s deadline.
func (r *Resolver) Query(name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(4096, true)
	c := &dns.Client{Timeout: 5 * time.Second}
	in, _, err := c.Exchange(m, r.Addr)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.Exchange(m, r.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("dnssectest: %s %s: %w", name, dns.TypeToString[qtype], err)
	}
	return in, nil
}

// EDE returns the extended DNS error texts (RFC 8914) of m, "Signature Expired (7): ...".
func EDE(m *dns.Msg) string {
	var out []string
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				out = append(out, e.String())
			}
		}
	}
	return strings.Join(out, "; ")
}

// syncWriter collects a process's output; Write and String may run concurrently.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
