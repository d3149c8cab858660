package mtapolicy

import "fmt"

// MTA is our organisation's outbound TLS policy, from whichever inventory
// files were read: Postfix (main.cf and smtp_tls_policy_maps), Exchange
// Server (send connectors, TLSSendDomainSecureList), Exchange Online
// (outbound connectors).
type MTA struct {
	Postfix    PostfixConfig  // DefaultPostfixConfig unless a main.cf was read
	PolicyMap  *PolicyMap     // nil unless a policy map was read
	Server     ExchangeConfig // Exchange Server
	Online     ExchangeConfig // Exchange Online (Online is true)
	HasPostfix bool
	HasServer  bool
	HasOnline  bool
}

// Evaluate decides, for every MTA configured, what it does with mail for
// dest (the recipient domain, or a Postfix "[host]:port" next hop) sent to
// the target described by in (in.NextHop is set from dest when empty).
func (m *MTA) Evaluate(dest string, in Input) []Decision {
	if in.NextHop == "" {
		in.NextHop = NextHopName(dest)
	}
	var out []Decision
	if m.HasPostfix {
		out = append(out, EvaluatePostfix(m.Postfix.Effective(m.PolicyMap, dest), m.Postfix, in))
	}
	if m.HasServer {
		if r, ok := m.Server.Route(in.NextHop); ok {
			out = append(out, EvaluateExchange(r, m.Server.DomainSecured(in.NextHop), in))
		} else {
			out = append(out, Decision{Outcome: Undetermined, MTA: "Exchange Server", Rule: "Exchange Server: no send connector's address space matches " + in.NextHop + ": mail for it has no route and waits in the Unreachable queue"})
		}
	}
	if m.HasOnline {
		r, _ := m.Online.Route(in.NextHop)
		out = append(out, EvaluateExchange(r, false, in))
	}
	return out
}

// WhatIfPostfix decides as if dest's Postfix policy had level l.
func (m *MTA) WhatIfPostfix(dest string, l Level, in Input) Decision {
	if in.NextHop == "" {
		in.NextHop = NextHopName(dest)
	}
	return EvaluatePostfix(m.Postfix.Effective(m.PolicyMap, dest).As(l), m.Postfix, in)
}

// WhatIfExchange decides as if the connector routing dest (Exchange
// Server, else Exchange Online) had TLS level a.
func (m *MTA) WhatIfExchange(dest string, a TLSAuth, in Input) Decision {
	if in.NextHop == "" {
		in.NextHop = NextHopName(dest)
	}
	c := m.Server
	if !m.HasServer {
		c = m.Online
	}
	r, ok := c.Route(in.NextHop)
	if !ok {
		return Decision{Outcome: Undetermined, MTA: "Exchange Server", Rule: "Exchange Server: no send connector's address space matches " + in.NextHop}
	}
	return EvaluateExchange(r.As(a), c.DomainSecured(in.NextHop), in)
}

// LoadAnchors loads the trust anchors of every tafile= entry and of
// main.cf's smtp_tls_trust_anchor_file, each path read below root when
// root is not empty (a copy of the Postfix host's files). A tafile that
// cannot be read leaves its entry without anchors (evaluated as
// undetermined) and is returned as an error.
func (m *MTA) LoadAnchors(root string) []error {
	var errs []error
	if len(m.Postfix.TrustAnchorFiles) > 0 {
		a, err := LoadAnchors(root, m.Postfix.TrustAnchorFiles)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s smtp_tls_trust_anchor_file: %w", m.Postfix.MainCF, err))
		}
		m.Postfix.Anchors = a
	}
	if m.PolicyMap == nil {
		return errs
	}
	for i := range m.PolicyMap.Entries {
		p := &m.PolicyMap.Entries[i]
		if len(p.TAFiles) == 0 {
			continue
		}
		a, err := LoadAnchors(root, p.TAFiles)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Where(), err))
		}
		p.Anchors = a
	}
	return errs
}
