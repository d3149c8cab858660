package audit

// Delivery outcomes: what our own MTA does with mail for a target under its
// TLS policy (issue 14), best first.
const (
	Delivers                = "delivers"                 // TLS with the authentication the policy asks for
	DeliversUnauthenticated = "delivers-unauthenticated" // delivers, but authenticates nothing (or goes in clear)
	Deferred                = "deferred"                 // queued and retried: a TLS policy failure is temporary for Postfix and Exchange
	Bounces                 = "bounces"                  // returned to the sender: failing longer than the MTA keeps mail queued
	Undetermined            = "undetermined"             // a fact the rule needs is missing (e.g. DANE was not evaluated)
)

// deliveryRank orders outcomes from best to worst for "the worst target decides".
var deliveryRank = map[string]int{Delivers: 0, DeliversUnauthenticated: 1, Undetermined: 2, Deferred: 3, Bounces: 4}

// Delivery is what our MTA does with mail for a target (or, on a partner,
// its worst target) under the policy an inventory file gave, and the rule
// that decided it in the MTA's own words.
type Delivery struct {
	Outcome string `json:"outcome"`          // Delivers, DeliversUnauthenticated, Deferred, Bounces or Undetermined
	MTA     string `json:"mta"`              // "Postfix", "Exchange Server" or "Exchange Online"
	Policy  string `json:"policy"`           // the setting that applied, e.g. "secure match=nexthop:dot-nexthop"
	Source  string `json:"source,omitempty"` // where that setting is: file:line (the policy source)
	Rule    string `json:"rule"`             // the rule that decided, in the MTA's words
	Clear   bool   `json:"clear,omitempty"`  // the message goes without TLS
	Target  string `json:"target,omitempty"` // on a partner: the target that decided (TargetResult.Key)

	// The same decision under the tightened policy of --what-if-level or
	// --what-if-domain-secure; empty without one.
	WhatIfPolicy  string `json:"what_if_policy,omitempty"`
	WhatIfOutcome string `json:"what_if_outcome,omitempty"`
	WhatIfRule    string `json:"what_if_rule,omitempty"`
}

// Flows reports whether outcome o delivers the mail (with or without authentication).
func Flows(o string) bool { return o == Delivers || o == DeliversUnauthenticated }

// WorseDelivery reports whether outcome a is worse than b.
func WorseDelivery(a, b string) bool { return deliveryRank[a] > deliveryRank[b] }

// WouldStop reports whether mail that flows today stops under the what-if policy.
func (d *Delivery) WouldStop() bool {
	return d != nil && d.WhatIfOutcome != "" && Flows(d.Outcome) && !Flows(d.WhatIfOutcome)
}

// ReadyFor reports whether the target already passes the what-if policy
// authenticated (it could be tightened today).
func (d *Delivery) ReadyFor() bool {
	return d != nil && d.WhatIfOutcome == Delivers && d.WhatIfPolicy != d.Policy
}

// WorstDelivery is the delivery of the partner: its worst target's, naming that target.
func WorstDelivery(targets []TargetResult) *Delivery {
	var worst *Delivery
	for i := range targets {
		d := targets[i].Delivery
		if d == nil {
			continue
		}
		if worst == nil || WorseDelivery(d.Outcome, worst.Outcome) || d.Outcome == worst.Outcome && worseWhatIf(d, worst) {
			c := *d
			c.Target = targets[i].Key()
			worst = &c
		}
	}
	return worst
}

func worseWhatIf(a, b *Delivery) bool {
	return a.WhatIfOutcome != "" && WorseDelivery(a.WhatIfOutcome, b.WhatIfOutcome)
}
