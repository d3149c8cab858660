package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
)

// Zone is a zone a Validator serves through its authoritative server.
type Zone struct {
	Name    string   // the zone's name, e.g. "sec.test"
	Records []string // zone-file lines with absolute names; SOA, NS and the name server's A are added
	Signed  bool     // sign the zone (ldns-signzone, ECDSA P-256, NSEC) and trust its key
	// Bogus signs the zone but makes the resolver trust another key, so its
	// answers fail validation (the resolver answers SERVFAIL).
	Bogus bool
}

// Validator is a real validating resolver (unbound) on loopback in front
// of a real authoritative server (nsd) serving zones signed with real keys.
type Validator struct {
	Addr     string // the resolver: host:port, UDP and TCP
	AuthAddr string // the authoritative server
	dir      string
	procs    []*exec.Cmd
}

// ErrNoTools says a tool the Validator needs is not installed (Debian: unbound, nsd, ldnsutils).
var ErrNoTools = errors.New("fleet: validator tools missing")

func tool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin"} {
		if p := filepath.Join(d, name); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrNoTools, name)
}

func fileExists(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }

// StartValidator signs and serves zones from dir (a fresh folder, e.g. t.TempDir()).
// The resolver asks nothing but the authoritative server: every other name fails.
func StartValidator(dir string, zones ...Zone) (v *Validator, err error) {
	tools := map[string]string{}
	for _, name := range []string{"ldns-keygen", "ldns-signzone", "nsd", "unbound"} {
		if tools[name], err = tool(name); err != nil {
			return nil, err
		}
	}
	v = &Validator{dir: dir}
	defer func() {
		if err != nil {
			v.Close()
		}
	}()
	authPort, err := freePort()
	if err != nil {
		return nil, err
	}
	resPort, err := freePort()
	if err != nil {
		return nil, err
	}
	v.AuthAddr = net.JoinHostPort("127.0.0.1", fmt.Sprint(authPort))
	v.Addr = net.JoinHostPort("127.0.0.1", fmt.Sprint(resPort))

	var nsdZones, anchors, stubs strings.Builder
	for _, z := range zones {
		name := strings.TrimSuffix(z.Name, ".")
		file, anchor, err := writeZone(dir, tools, name, z)
		if err != nil {
			return nil, fmt.Errorf("fleet: zone %s: %w", name, err)
		}
		fmt.Fprintf(&nsdZones, "zone:\n  name: %q\n  zonefile: %q\n", name, file)
		if anchor != "" {
			fmt.Fprintf(&anchors, "  trust-anchor-file: %q\n", anchor)
		}
		fmt.Fprintf(&stubs, "stub-zone:\n  name: %q\n  stub-addr: 127.0.0.1@%d\n", name, authPort)
	}
	nsdConf := fmt.Sprintf(`server:
  ip-address: 127.0.0.1
  port: %d
  username: ""
  chroot: ""
  zonesdir: %q
  database: ""
  pidfile: %q
  xfrdfile: %q
  zonelistfile: %q
  logfile: %q
  server-count: 1
  do-ip6: no
  verbosity: 1
remote-control:
  control-enable: no
%s`, authPort, dir, filepath.Join(dir, "nsd.pid"), filepath.Join(dir, "xfrd.state"), filepath.Join(dir, "zone.list"),
		filepath.Join(dir, "nsd.log"), nsdZones.String())
	// Every name outside the zones goes to nsd too (which refuses it), so
	// the resolver never sends a packet off this machine.
	unboundConf := fmt.Sprintf(`server:
  interface: 127.0.0.1
  port: %d
  do-daemonize: no
  username: ""
  chroot: ""
  directory: %q
  pidfile: %q
  use-syslog: no
  logfile: %q
  do-ip6: no
  do-not-query-localhost: no
  module-config: "validator iterator"
  local-zone: "test." nodefault
  local-zone: "example." nodefault
  verbosity: 1
  val-log-level: 2
%sstub-zone:
  name: "."
  stub-addr: 127.0.0.1@%d
%sremote-control:
  control-enable: no
`, resPort, dir, filepath.Join(dir, "unbound.pid"), filepath.Join(dir, "unbound.log"), anchors.String(), authPort, stubs.String())
	for _, f := range []struct{ name, text string }{{"nsd.conf", nsdConf}, {"unbound.conf", unboundConf}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.text), 0o644); err != nil {
			return nil, fmt.Errorf("fleet: %w", err)
		}
	}
	if err := v.start(tools["nsd"], "-d", "-c", filepath.Join(dir, "nsd.conf")); err != nil {
		return nil, err
	}
	if err := waitDNS(v.AuthAddr, "nsd.log", dir); err != nil {
		return nil, err
	}
	if err := v.start(tools["unbound"], "-d", "-c", filepath.Join(dir, "unbound.conf")); err != nil {
		return nil, err
	}
	if err := waitDNS(v.Addr, "unbound.log", dir); err != nil {
		return nil, err
	}
	return v, nil
}

// writeZone writes a zone file (signed if asked) and returns its path and the trust anchor file.
func writeZone(dir string, tools map[string]string, name string, z Zone) (file, anchor string, err error) {
	var b strings.Builder
	fmt.Fprintf(&b, "$TTL 300\n%[1]s. IN SOA ns.%[1]s. hostmaster.%[1]s. 1 3600 600 86400 60\n%[1]s. IN NS ns.%[1]s.\nns.%[1]s. IN A 127.0.0.1\n", name)
	for _, r := range z.Records {
		b.WriteString(r + "\n")
	}
	file = filepath.Join(dir, name+".zone")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return "", "", err
	}
	if !z.Signed && !z.Bogus {
		return file, "", nil
	}
	keygen := func(args ...string) (string, error) {
		cmd := exec.Command(tools["ldns-keygen"], append([]string{"-a", "ECDSAP256SHA256"}, append(args, name)...)...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("ldns-keygen: %w", err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	ksk, err := keygen("-k")
	if err != nil {
		return "", "", err
	}
	zsk, err := keygen()
	if err != nil {
		return "", "", err
	}
	cmd := exec.Command(tools["ldns-signzone"], "-f", file+".signed", file, zsk, ksk)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("ldns-signzone: %w: %s", err, out)
	}
	anchor = filepath.Join(dir, ksk+".key")
	if z.Bogus {
		// Trust a key that signed nothing here.
		other, err := keygen("-k")
		if err != nil {
			return "", "", err
		}
		anchor = filepath.Join(dir, other+".key")
	}
	return file + ".signed", anchor, nil
}

func (v *Validator) start(path string, args ...string) error {
	cmd := exec.Command(path, args...)
	cmd.Dir = v.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("fleet: %s: %w", filepath.Base(path), err)
	}
	v.procs = append(v.procs, cmd)
	return nil
}

// Close stops the resolver and the authoritative server (their process groups).
func (v *Validator) Close() {
	for i := len(v.procs) - 1; i >= 0; i-- {
		p := v.procs[i]
		syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	v.procs = nil
}

// freePort returns a port free for both UDP and TCP on 127.0.0.1 right now.
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("fleet: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", l.Addr().String())
		l.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("fleet: no free port for UDP and TCP")
}

// waitDNS waits until a DNS server answers on addr (any answer), at most 10 seconds.
func waitDNS(addr, log, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &mdns.Client{Timeout: 200 * time.Millisecond}
	q := new(mdns.Msg)
	q.SetQuestion(".", mdns.TypeSOA)
	for ctx.Err() == nil {
		if _, _, err := c.ExchangeContext(ctx, q, addr); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, log))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return fmt.Errorf("fleet: no DNS answer on %s within 10s; %s says: %s", addr, log, b)
}
