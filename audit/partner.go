package audit

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// TLSMode says how an SMTP server starts TLS: a partner's MX host, or the
// submission server mxaudit mails its reports through.
type TLSMode string

// The two TLS modes: STARTTLS after EHLO (port 25/587) or TLS from the first byte (465).
const (
	StartTLS TLSMode = "starttls"
	Implicit TLSMode = "implicit"
)

// ImplicitTLSPort is the port that speaks TLS from the first byte (RFC 8314 submissions).
const ImplicitTLSPort = 465

// DefaultTLSMode returns the TLS mode of a port when none is given:
// implicit on 465, STARTTLS on every other port.
func DefaultTLSMode(port int) TLSMode {
	if port == ImplicitTLSPort {
		return Implicit
	}
	return StartTLS
}

// ParseTLSMode reads "starttls" or "implicit" (any case); "" gives the
// default mode of port.
func ParseTLSMode(s string, port int) (TLSMode, error) {
	switch m := TLSMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return DefaultTLSMode(port), nil
	case StartTLS, Implicit:
		return m, nil
	}
	return "", fmt.Errorf("%q is not a TLS mode (starttls or implicit)", s)
}

// Partner is one row of the partner inventory.
type Partner struct {
	Line            int               `json:"line,omitempty"` // line in the inventory file where the row starts
	Name            string            `json:"partner"`
	Domain          string            `json:"domain"`
	Host            string            `json:"host"`
	Address         string            `json:"address"` // IP or IP:port to connect to instead of resolving Host
	Port            int               `json:"port"`
	TLS             TLSMode           `json:"tls"`
	Enforced        bool              `json:"enforced"`
	Contact         string            `json:"contact,omitempty"`
	ExpectedIssuer  string            `json:"expected_issuer,omitempty"`
	ExpectedSubject string            `json:"expected_subject,omitempty"`
	PrivateRoot     string            `json:"private_root,omitempty"`
	Notes           string            `json:"notes,omitempty"`
	Extra           map[string]string `json:"extra,omitempty"` // unknown inventory columns, by header
}

// Target is what gets probed: partners sharing one Target are probed once.
type Target struct {
	Host    string
	Port    int
	Address string // explicit IP or IP:port from the inventory, or ""
	TLS     TLSMode
}

// Target returns the probe target of p.
func (p Partner) Target() Target {
	return Target{Host: p.Host, Port: p.Port, Address: p.Address, TLS: p.TLS}
}

// DialAddress returns the host:port to connect to when Address is set, or "".
func (t Target) DialAddress() string {
	if t.Address == "" {
		return ""
	}
	if _, _, err := net.SplitHostPort(t.Address); err == nil {
		return t.Address
	}
	return net.JoinHostPort(t.Address, strconv.Itoa(t.Port))
}

// String names the service and, when it differs, where it is reached:
// "mx.partner.example:25", or "mx.partner.example:25 via 10.1.2.3:2525".
func (t Target) String() string {
	s := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	if a := t.DialAddress(); a != "" {
		s += " via " + a
	}
	return s
}
