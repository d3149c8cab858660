package mtapolicy

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
