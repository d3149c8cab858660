package audit

import (
	"fmt"
	"strings"
)

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

// DeliverySource is the policy source of a delivery: the file its setting
// is in (Source without its line), or its MTA when no file is known.
func (d *Delivery) DeliverySource() string {
	if d == nil {
		return ""
	}
	s := d.Source
	if i := strings.LastIndexByte(s, ':'); i > 0 && isDigits(s[i+1:]) {
		s = s[:i]
	}
	if s == "" {
		return d.MTA
	}
	return s
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// DeliveryGroup counts the partners of one policy source by outcome.
type DeliveryGroup struct {
	Source    string         // DeliverySource
	Partners  int            //
	Outcomes  map[string]int // partners by Delivery.Outcome
	WouldStop int            // partners whose mail flows today and stops under the what-if policy
	Ready     int            // partners not yet at the what-if policy that pass it already
	WhatIf    string         // the what-if policy, from the first partner that has one
}

// DeliveryGroups groups the partners that have a delivery by policy
// source, in order of first appearance.
func DeliveryGroups(partners []Result) []DeliveryGroup {
	var c DeliveryCounter
	for i := range partners {
		c.Add(&partners[i])
	}
	return c.Groups()
}

// DeliveryCounter makes the DeliveryGroups of partners seen one at a time
// (a run streamed past it); the zero value is ready to use.
type DeliveryCounter struct {
	idx    map[string]int
	groups []DeliveryGroup
}

// Add counts partner r, if it has a delivery.
func (c *DeliveryCounter) Add(r *Result) {
	d := r.Delivery
	if d == nil {
		return
	}
	if c.idx == nil {
		c.idx = map[string]int{}
	}
	src := d.DeliverySource()
	k, ok := c.idx[src]
	if !ok {
		k = len(c.groups)
		c.idx[src] = k
		c.groups = append(c.groups, DeliveryGroup{Source: src, Outcomes: map[string]int{}})
	}
	g := &c.groups[k]
	g.Partners++
	g.Outcomes[d.Outcome]++
	if d.WouldStop() {
		g.WouldStop++
	}
	if d.ReadyFor() {
		g.Ready++
	}
	if g.WhatIf == "" && d.WhatIfOutcome != "" {
		g.WhatIf = whatIfLevel(d.WhatIfPolicy)
	}
}

// Groups returns the groups counted so far, in order of first appearance.
func (c *DeliveryCounter) Groups() []DeliveryGroup { return c.groups }

// whatIfLevel names a what-if policy by its first word ("secure", "Domain").
func whatIfLevel(p string) string {
	if strings.HasPrefix(p, "Domain Security") {
		return "Domain Security"
	}
	if f := strings.Fields(p); len(f) > 0 {
		return f[0]
	}
	return p
}

// String says in one line where mail stops today and would stop under
// the what-if policy: "tls_policy: 12 partners; mail to 3 is deferred
// today; 4 would stop under secure; 2 pass secure already".
func (g DeliveryGroup) String() string {
	var today []string
	if n := g.Outcomes[Deferred]; n > 0 {
		today = append(today, fmt.Sprintf("mail to %d is deferred today", n))
	}
	if n := g.Outcomes[Bounces]; n > 0 {
		today = append(today, fmt.Sprintf("mail to %d bounces", n))
	}
	if n := g.Outcomes[Undetermined]; n > 0 {
		today = append(today, fmt.Sprintf("%d undetermined", n))
	}
	if len(today) == 0 {
		today = append(today, "mail to all flows today")
	}
	if n := g.Outcomes[DeliversUnauthenticated]; n > 0 {
		today = append(today, fmt.Sprintf("%d delivered without authentication", n))
	}
	noun := "partners"
	if g.Partners == 1 {
		noun = "partner"
	}
	s := fmt.Sprintf("%s: %d %s; %s", g.Source, g.Partners, noun, strings.Join(today, ", "))
	if g.WhatIf != "" {
		s += fmt.Sprintf("; %d would stop under %s; %d pass %s already", g.WouldStop, g.WhatIf, g.Ready, g.WhatIf)
	}
	return s
}
