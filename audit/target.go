package audit

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// How a target was found (TargetResult.Found).
const (
	FoundMX       = "mx"          // an MX record of the partner's domain
	FoundImplicit = "implicit-mx" // the domain has no MX: its own address (RFC 5321 5.1)
	FoundHost     = "host"        // the inventory row names the host
	FoundFollowMX = "follow-mx"   // an MX of the domain of a row whose host is not among them (--follow-mx)
)

// Address families (TargetResult.Family).
const (
	IPv4 = "IPv4"
	IPv6 = "IPv6"
)

// TargetResult is the audit of one target: one address of one MX host on
// one port, as a sending MTA reaches it.
type TargetResult struct {
	Line       int     `json:"line,omitempty"` // the inventory row the target comes from
	MX         string  `json:"mx"`             // the MX host: the name the certificate must carry and the SNI
	Preference int     `json:"preference"`     // the MX preference (0 for a host the row names, or an implicit MX)
	Found      string  `json:"found"`          // FoundMX, FoundImplicit, FoundHost or FoundFollowMX
	Address    string  `json:"address"`        // the IP connected to, or IP:port when the connection port differs from Port
	Port       int     `json:"port"`           // the service port (it decides the TLS mode)
	Family     string  `json:"family"`         // IPv4 or IPv6
	TLS        TLSMode `json:"tls"`
	// DNSSEC: the MX and address answers came with the AD bit (authentic, as far as the resolver is trusted).
	DNSSEC bool `json:"dnssec,omitempty"`

	Verdict      Verdict                `json:"verdict"`
	Verdicts     []Verdict              `json:"verdicts"`
	Details      map[Verdict]string     `json:"details,omitempty"`
	ResultTypes  map[Verdict]ResultType `json:"result_types,omitempty"` // RFC 8460 result type of each verdict
	Cases        map[Verdict]Case       `json:"cases,omitempty"`
	Remedy       string                 `json:"remedy"`
	Root         Root                   `json:"root"`
	Chain        []Cert                 `json:"chain"`
	TLSVersion   string                 `json:"tls_version"`
	Cipher       string                 `json:"cipher"`
	Error        string                 `json:"error"`
	DurationMS   int64                  `json:"duration_ms"`
	SMTP         SMTP                   `json:"smtp"`
	OCSPStaple   []byte                 `json:"ocsp_staple,omitempty"`
	Revocation   *Revocation            `json:"revocation,omitempty"`
	Completion   *Completion            `json:"completion,omitempty"` // how Windows would complete a PartialChain from AIA
	Certificates []CertAudit            `json:"certificates,omitempty"`
	// SharedWith names the partner whose probe this target shares (same MX, address, port and TLS mode).
	SharedWith string `json:"shared_probe_with,omitempty"`
	// Policies are the published policies as they apply to this target (DANE is per MX host).
	Policies *Policies `json:"policies,omitempty"`
	// Delivery is what our MTA does with mail for this target under its TLS policy (issue 14).
	Delivery *Delivery `json:"delivery,omitempty"`
}

// Target returns what t probes: the MX host (SNI), port, address and TLS mode.
func (t *TargetResult) Target() Target {
	return Target{Host: t.MX, Port: t.Port, Address: t.Address, TLS: t.TLS}
}

// Key identifies a target of a partner across runs: "mx.example:25 via
// 192.0.2.1", the same string an inventory row naming that host and address gives.
func (t *TargetResult) Key() string { return TargetKey(t.MX, t.Port, t.Address) }

// TargetKey is the key of a target: host:port, and " via " the address
// connected to when there is one.
func TargetKey(host string, port int, address string) string {
	s := host + ":" + strconv.Itoa(port)
	if address != "" {
		s += " via " + address
	}
	return s
}

// String names the target for people: "mx1.contoso.example [192.0.2.1]:25".
func (t *TargetResult) String() string {
	ip := t.Address
	if h, _, err := net.SplitHostPort(t.Address); err == nil {
		ip = h
	}
	s := t.MX + ":" + strconv.Itoa(t.Port)
	if ip != "" && ip != t.MX {
		s = t.MX + " [" + ip + "]:" + strconv.Itoa(t.Port)
	}
	if a := t.Target().DialAddress(); a != "" && !strings.HasSuffix(a, ":"+strconv.Itoa(t.Port)) {
		s += " via " + a
	}
	return s
}

// FamilyOf returns IPv4 or IPv6 for an address (IP or IP:port), or "".
func FamilyOf(address string) string {
	if h, _, err := net.SplitHostPort(address); err == nil {
		address = h
	}
	a, err := netip.ParseAddr(strings.Trim(address, "[]"))
	switch {
	case err != nil:
		return ""
	case a.Unmap().Is4():
		return IPv4
	}
	return IPv6
}

// NewTarget is the target of a result of partner row r: what a probe of
// r's host gave, before a partner has several targets (and schema 1 results).
func NewTarget(r *Result) TargetResult {
	t := TargetResult{
		Line: r.Line, MX: r.Host, Found: FoundHost, Address: r.Address, Port: r.Port, TLS: r.TLS,
		Verdict: r.Verdict, Verdicts: r.Verdicts, Details: r.Details, Cases: r.Cases, Remedy: r.Remedy,
		Root: r.Root, Chain: r.Chain, TLSVersion: r.TLSVersion, Cipher: r.Cipher, Error: r.Error,
		DurationMS: r.DurationMS, SMTP: r.SMTP, OCSPStaple: r.OCSPStaple, Revocation: r.Revocation,
		Completion: r.Completion, Certificates: r.Certificates, SharedWith: r.SharedWith,
		ResultTypes: r.ResultTypes, Policies: r.Policies,
	}
	if t.Address == "" && r.SMTP.RemoteAddr != "" {
		if h, p, err := net.SplitHostPort(r.SMTP.RemoteAddr); err == nil {
			t.Address = h
			if p != strconv.Itoa(r.Port) {
				t.Address = r.SMTP.RemoteAddr
			}
		}
	}
	t.Family = FamilyOf(t.Address)
	return t
}

// View returns t as the result of partner p alone: p's row with the
// target's host, port, address and TLS mode, and the target's audit, so
// that everything written for a Result (remedies, cases, severities,
// report rows) serves a target too. Findings are p's.
func (t *TargetResult) View(p *Result) Result {
	r := Result{Partner: p.Partner, Findings: p.Findings}
	r.Host, r.Port, r.Address, r.TLS = t.MX, t.Port, t.Address, t.TLS
	if t.Line != 0 {
		r.Line = t.Line
	}
	r.Verdict, r.Verdicts, r.Details, r.Cases, r.Remedy = t.Verdict, t.Verdicts, t.Details, t.Cases, t.Remedy
	r.Root, r.Chain, r.TLSVersion, r.Cipher, r.Error = t.Root, t.Chain, t.TLSVersion, t.Cipher, t.Error
	r.DurationMS, r.SMTP, r.OCSPStaple, r.Revocation, r.Completion = t.DurationMS, t.SMTP, t.OCSPStaple, t.Revocation, t.Completion
	r.Certificates, r.SharedWith, r.Delivery = t.Certificates, t.SharedWith, t.Delivery
	r.ResultTypes, r.Policies = t.ResultTypes, t.Policies
	return r
}

// Leaf returns the first certificate of t's chain, or nil.
func (t *TargetResult) Leaf() *Cert {
	if len(t.Chain) == 0 {
		return nil
	}
	return &t.Chain[0]
}

// Failing reports whether t has a problem: a verdict other than Valid.
func (t *TargetResult) Failing() bool { return t.Verdict != Valid }

// worseTarget orders targets worst first: by primary verdict (Order), then
// the leaf that expires first, then as listed.
func worseTarget(a, b *TargetResult) int {
	if c := cmp.Compare(a.Verdict.Rank(), b.Verdict.Rank()); c != 0 {
		return c
	}
	la, lb := a.Leaf(), b.Leaf()
	switch {
	case la != nil && lb != nil:
		return la.NotAfter.Compare(lb.NotAfter)
	case la != nil:
		return -1
	case lb != nil:
		return 1
	}
	return 0
}

// Worst returns the index of r's worst target (see SetTargets), or -1 without targets.
func (r *Result) Worst() int {
	w := -1
	for i := range r.Targets {
		if w < 0 || worseTarget(&r.Targets[i], &r.Targets[w]) < 0 {
			w = i
		}
	}
	return w
}

// SetTargets gives r its targets and makes r's own audit that of the worst
// of them: the most severe primary verdict by Order, among equals the one
// whose leaf expires first. Host, port, address and TLS mode become the
// worst target's, so checks and reports reading r alone see the target
// that decides; every verdict of every target is in r.Verdicts (the worst
// target's first), each detail naming its target when r has several.
func (r *Result) SetTargets(ts []TargetResult) {
	r.Targets = ts
	r.TargetsFailing = 0
	for i := range ts {
		if ts[i].Failing() {
			r.TargetsFailing++
		}
	}
	w := r.Worst()
	if w < 0 {
		return
	}
	t := &ts[w]
	v := t.View(r)
	v.Findings, v.Targets, v.TargetsFailing, v.NotTested = r.Findings, r.Targets, r.TargetsFailing, r.NotTested
	v.Delivery = WorstDelivery(ts)
	if t.Line == 0 {
		v.Line = r.Line
	}
	*r = v
	r.ResultTypes = maps.Clone(r.ResultTypes) // the worst target's map stays its own
	if len(ts) == 1 {
		return
	}
	// The other targets' verdicts, so that r.Has and the verdict rows of
	// the reports tell every problem; their details say where.
	details := map[Verdict]string{}
	for k, d := range t.Details {
		details[k] = t.String() + ": " + d
	}
	verdicts := slices.Clone(t.Verdicts)
	for i := range ts {
		if i == w {
			continue
		}
		o := &ts[i]
		for _, vd := range o.Verdicts {
			if vd == Valid {
				continue
			}
			d := o.String() + ": " + o.Details[vd]
			if o.Details[vd] == "" {
				d = o.String()
			}
			if rt, ok := o.ResultTypes[vd]; ok {
				if r.ResultTypes == nil {
					r.ResultTypes = map[Verdict]ResultType{}
				}
				if r.ResultTypes[vd] == "" {
					r.ResultTypes[vd] = rt
				}
			}
			if !slices.Contains(verdicts, vd) {
				verdicts = append(verdicts, vd)
				details[vd] = d
				if c, ok := o.Cases[vd]; ok {
					if r.Cases == nil {
						r.Cases = map[Verdict]Case{}
					}
					r.Cases[vd] = c
				}
			} else if !strings.Contains(details[vd], o.String()) {
				details[vd] += "; " + d
			}
		}
	}
	if len(verdicts) > 1 {
		verdicts = slices.DeleteFunc(verdicts, func(vd Verdict) bool { return vd == Valid })
	}
	slices.SortStableFunc(verdicts, func(a, b Verdict) int { return a.Rank() - b.Rank() })
	r.Verdicts = verdicts
	if len(details) > 0 {
		r.Details = details
	}
}

// TargetsText says how many of r's targets have a problem: "1 of 4
// addresses", "all 2 addresses", "" for a partner with one target or none.
func (r *Result) TargetsText() string {
	n := len(r.Targets)
	switch {
	case n <= 1:
		return ""
	case r.TargetsFailing == n:
		return fmt.Sprintf("all %d addresses", n)
	}
	return fmt.Sprintf("%d of %d addresses", r.TargetsFailing, n)
}
