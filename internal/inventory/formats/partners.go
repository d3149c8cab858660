package formats

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/inventory/postfix"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
)

// NextHopColumn is the inventory column (audit.Partner.Extra) holding the
// Postfix next hop a partner's policy is looked up by, when it is not the
// partner's domain: "[mx.example.com]:587" from a policy map key.
const NextHopColumn = "next_hop"

// Partners lists the partners our MTA's policy names, in file order, one
// per domain or host (the first setting naming it wins): the domains and
// "[host]:port" next hops of the Postfix policy map, the address spaces and
// smart hosts of Exchange connectors, the TLSSendDomainSecureList. A ".domain"
// key (sub-domains only) and wildcard address spaces name no partner and
// are left out. Enforced is set where the policy requires TLS. Postfix's
// partners are reached on main.cf's smtp_tcp_port (25).
func Partners(m *mtapolicy.MTA) []audit.Partner {
	var out []audit.Partner
	seen := map[string]bool{}
	add := func(p audit.Partner) {
		k := strings.ToLower(p.Domain + "|" + p.Host + "|" + strconv.Itoa(p.Port))
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	if m.PolicyMap != nil {
		for _, e := range m.PolicyMap.Entries {
			if p, ok := policyPartner(e, m.Postfix.Port); ok {
				add(p)
			}
		}
	}
	for _, c := range []mtapolicy.ExchangeConfig{m.Server, m.Online} {
		for _, r := range c.Connectors {
			for _, as := range r.AddressSpaces {
				d := strings.TrimSuffix(strings.ToLower(as), ".")
				if d == "" || strings.ContainsAny(d, "*[]") {
					continue
				}
				add(audit.Partner{Line: r.Line, Name: d, Domain: d, Port: 25, Enforced: r.RequireTLS || r.TLSAuth != mtapolicy.TLSAuthNone})
			}
		}
		for _, d := range c.DomainSecureList {
			d = strings.ToLower(d)
			add(audit.Partner{Name: d, Domain: d, Port: 25, Enforced: true})
		}
	}
	return out
}

// policyPartner is the partner a policy map entry names.
func policyPartner(e mtapolicy.PostfixPolicy, smtpPort int) (audit.Partner, bool) {
	if smtpPort == 0 {
		smtpPort = 25
	}
	key := strings.ToLower(e.Key)
	enforced := e.Level >= mtapolicy.LevelEncrypt
	switch {
	case key == "" || strings.HasPrefix(key, "."):
		return audit.Partner{}, false
	case strings.HasPrefix(key, "["):
		host, port := mtapolicy.NextHopName(key), smtpPort
		if i := strings.LastIndex(key, "]:"); i > 0 {
			n, err := strconv.Atoi(key[i+2:])
			if err != nil {
				return audit.Partner{}, false // a service name: not a port to probe
			}
			port = n
		}
		if net.ParseIP(host) != nil {
			return audit.Partner{Line: e.Line, Name: host, Host: host, Address: host, Port: port, Enforced: enforced, Extra: map[string]string{NextHopColumn: e.Key}}, true
		}
		return audit.Partner{Line: e.Line, Name: host, Host: host, Port: port, Enforced: enforced, Extra: map[string]string{NextHopColumn: e.Key}}, true
	case strings.Contains(key, ":"):
		return audit.Partner{}, false // host:port looks up MX of host: not a form admins use for partners
	}
	return audit.Partner{Line: e.Line, Name: key, Domain: key, Port: smtpPort, Enforced: enforced}, true
}

// MergeContacts fills the name, contact and notes of each partner from the
// rows of a partner CSV with the same domain (or host), so that the policy
// comes from the MTA and the people from the CSV.
func MergeContacts(partners []audit.Partner, people []audit.Partner) {
	by := map[string]audit.Partner{}
	for _, p := range people {
		for _, k := range []string{p.Domain, p.Host} {
			if k = strings.ToLower(k); k != "" {
				if _, dup := by[k]; !dup {
					by[k] = p
				}
			}
		}
	}
	for i := range partners {
		p := &partners[i]
		k := p.Domain
		if k == "" {
			k = p.Host
		}
		c, ok := by[strings.ToLower(k)]
		if !ok {
			continue
		}
		p.Name, p.Contact, p.Notes = c.Name, c.Contact, c.Notes
	}
}

// PolicyColumn is the inventory column of a partner CSV that carries our
// MTA's policy for the row: a Postfix policy table value ("secure
// match=nexthop:dot-nexthop") or an Exchange TLS level ("DomainValidation",
// "CertificateValidation", "EncryptionOnly", or "DomainSecure" for
// TLSSendDomainSecureList).
const PolicyColumn = "policy"

// AddPolicyColumn adds to m the policy of every partner row that has one
// in its PolicyColumn (file names the CSV in errors and sources); a bad
// value is an error naming file, line and column, and the row keeps
// main.cf's default. It reports whether any row had a policy.
func AddPolicyColumn(m *mtapolicy.MTA, partners []audit.Partner, file string, errs *[]audit.InventoryError) bool {
	any := false
	for _, p := range partners {
		v := strings.TrimSpace(p.Extra[PolicyColumn])
		if v == "" {
			continue
		}
		any = true
		key := p.Domain
		if key == "" {
			key = "[" + p.Host + "]"
			if p.Port != 0 && p.Port != 25 {
				key += ":" + strconv.Itoa(p.Port)
			}
		}
		word := strings.Fields(v)[0]
		if _, err := mtapolicy.ParseLevel(word); err == nil {
			pol := postfix.ParsePolicy(v)
			if pol.Invalid != "" {
				*errs = append(*errs, audit.InventoryError{File: file, Line: p.Line, Column: PolicyColumn, Message: pol.Invalid})
				continue
			}
			e := pol.PostfixPolicy
			e.Key, e.File, e.Line = key, file, p.Line
			if m.PolicyMap == nil {
				m.PolicyMap = &mtapolicy.PolicyMap{}
			}
			m.PolicyMap.Add(e)
			m.HasPostfix = true
			continue
		}
		if strings.EqualFold(word, "DomainSecure") {
			m.Server.DomainSecureList = append(m.Server.DomainSecureList, p.Domain)
			m.Server.Connectors = append(m.Server.Connectors, mtapolicy.ExchangeRule{Connector: "policy column", AddressSpaces: []string{p.Domain}, DNSRouting: true, DomainSecure: true, File: file, Line: p.Line})
			m.Server.DomainSecureFile, m.HasServer = file, true
			continue
		}
		a, err := mtapolicy.ParseTLSAuth(word)
		if err != nil || a == mtapolicy.TLSAuthNone {
			*errs = append(*errs, audit.InventoryError{File: file, Line: p.Line, Column: PolicyColumn, Message: fmt.Sprintf("%q is neither a Postfix security level nor an Exchange TLS level (DomainValidation, CertificateValidation, EncryptionOnly, DomainSecure)", v)})
			continue
		}
		m.Server.Connectors = append(m.Server.Connectors, mtapolicy.ExchangeRule{Connector: "policy column", AddressSpaces: []string{key}, DNSRouting: true, RequireTLS: true, TLSAuth: a, File: file, Line: p.Line})
		m.HasServer = true
	}
	return any
}
