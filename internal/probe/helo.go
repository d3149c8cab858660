package probe

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// DefaultHELO returns this machine's fully qualified name as `hostname -f`
// finds it without DNS (the host name, or the first dotted alias of it in
// /etc/hosts), or "" when it has none: a probe then sends an address literal
// of its local side (see AddressLiteral).
func DefaultHELO() string {
	h, err := hostname()
	if err != nil {
		return ""
	}
	hosts, _ := os.ReadFile(hostsFile)
	return qualified(fqdn(h, string(hosts)))
}

// hostname and hostsFile are where DefaultHELO looks (tests replace them).
var (
	hostname  = os.Hostname
	hostsFile = "/etc/hosts"
)

// qualified returns name when it is a fully qualified domain name (it has a
// dot and does not end in one), else "": Postfix's
// reject_non_fqdn_helo_hostname rejects anything else.
func qualified(name string) string {
	if i := strings.IndexByte(name, '.'); i <= 0 || strings.HasSuffix(name, ".") {
		return ""
	}
	return name
}

// fqdn returns host when it has a dot, else the first dotted name on an
// /etc/hosts line that names host, else host.
func fqdn(host, hosts string) string {
	if strings.Contains(host, ".") {
		return host
	}
	for _, line := range strings.Split(hosts, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 || !slices.Contains(f[1:], host) {
			continue
		}
		for _, n := range f[1:] {
			if strings.Contains(n, ".") {
				return n
			}
		}
	}
	return host
}

// AddressLiteral returns the EHLO address literal of a connection's local
// address (RFC 5321 4.1.3): "[192.0.2.10]" or "[IPv6:2001:db8::1]".
func AddressLiteral(local net.Addr) string {
	var ip netip.Addr
	switch a := local.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(local.String()); err == nil {
			ip = ap.Addr()
		}
	}
	ip = ip.Unmap().WithZone("")
	switch {
	case !ip.IsValid():
		return "[127.0.0.1]"
	case ip.Is4():
		return "[" + ip.String() + "]"
	}
	return "[IPv6:" + ip.String() + "]"
}

// HELOSource says in words which EHLO name a probe with opts.HELO = helo
// sends, for the log: the given name, this machine's name, or the address
// literal when this machine has no fully qualified name.
func HELOSource(helo string) string {
	if helo != "" {
		return "EHLO " + helo + " (as given)"
	}
	if n := DefaultHELO(); n != "" {
		return "EHLO " + n + " (this machine's fully qualified name)"
	}
	h, _ := hostname()
	return "EHLO with the address literal of the local side of each connection, such as [192.0.2.10] (RFC 5321 4.1.3): the host name " +
		`"` + h + `" is not fully qualified; set --helo NAME to send a name`
}
