package dane

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/mxaudit/mxaudit/audit"
)

// Check is the name findings of this package carry.
const Check = "dane"

// Lookup is the answer to the TLSA query of one MX host, as the resolver gave it.
type Lookup struct {
	// HostSecure says the MX host's address records were DNSSEC-validated
	// (AD bit); RFC 7672 section 2.2 looks up TLSA only then.
	HostSecure bool
	// HostBogus, when set, says why the MX host's own address lookup
	// failed DNSSEC validation; mail is deferred as for a bogus TLSA answer.
	HostBogus string
	Rcode     int      // response code of the TLSA query (dns.RcodeSuccess, dns.RcodeNameError, ...)
	Secure    bool     // the TLSA answer had the AD bit
	Records   []Record // the TLSA records of the answer
	Err       error    // the query itself failed (timeout, network); counts as SERVFAIL
	Reason    string   // why the resolver failed, when it said (extended DNS error text)
}

// Input is what Evaluate needs for one MX host.
type Input struct {
	Host   string // the MX host name (the TLSA base domain)
	Port   int    // the SMTP port (the TLSA owner is _PORT._tcp.Host); 0 means 25
	Domain string // the recipient domain, also accepted as a name by DANE-TA
	// AltNames are further names DANE-TA accepts in the leaf: the MX host's
	// CNAME-expanded name when it is secure (RFC 7672 section 3.2.2).
	AltNames []string
	Lookup   Lookup
	// TLS says STARTTLS was offered and a handshake completed; TLSError says why not.
	TLS      bool
	TLSError string
	// Chains are the chains the server sent, leaf first, one per key type
	// it serves (an RSA and an ECDSA certificate give two).
	Chains [][]*x509.Certificate
	Now    time.Time // the clock for DANE-TA validity dates
}

// Status is what DANE makes of a host.
type Status string

// Statuses.
const (
	Valid    Status = "valid"    // a usable TLSA record matches the chain
	Mismatch Status = "mismatch" // usable records, none matches: TlsaMismatch
	Bogus    Status = "bogus"    // the TLSA lookup failed for a signed host: DnssecBogus
	NoTLS    Status = "no-tls"   // TLSA published but TLS failed: DaneRequiredNoTLS
	Unusable Status = "unusable" // only usages 0/1 (or unknown parameters): TLS required, not authenticated
	None     Status = "none"     // no TLSA records (securely denied)
	Insecure Status = "insecure" // the host or its TLSA records are not DNSSEC-signed: DANE does not apply
)

// Match is one record that matched one certificate of a chain.
type Match struct {
	Record Record
	Chain  int // index into Input.Chains
	Depth  int // index of the matched certificate in its chain (0 is the leaf; len(chain) for a bare key above it)
}

// Result is DANE's outcome for one MX host.
type Result struct {
	Status   Status
	Verdict  audit.Verdict // "" unless Status is Mismatch, Bogus or NoTLS
	Detail   string        // why, in words
	Matches  []Match
	Findings []audit.Finding // unusable records, rollover advice; Check is "dane"
}

// Evaluate applies RFC 7672 to in.
func Evaluate(in Input) Result {
	l := in.Lookup
	port := in.Port
	if port == 0 {
		port = 25
	}
	name := Name(in.Host, port)
	if l.HostBogus != "" {
		return Result{Status: Bogus, Verdict: audit.DnssecBogus,
			Detail: fmt.Sprintf("the address lookup of %s failed DNSSEC validation: %s; DANE senders defer mail", in.Host, l.HostBogus)}
	}
	if !l.HostSecure {
		return Result{Status: Insecure, Detail: fmt.Sprintf("the address records of %s are not DNSSEC-validated, so senders do not look up TLSA", in.Host)}
	}
	if l.Err != nil || (l.Rcode != dns.RcodeSuccess && l.Rcode != dns.RcodeNameError) {
		why := "SERVFAIL"
		switch {
		case l.Err != nil:
			why = l.Err.Error()
		case l.Rcode != dns.RcodeServerFailure:
			why = dns.RcodeToString[l.Rcode]
		}
		if l.Reason != "" {
			why += " (" + l.Reason + ")"
		}
		return Result{Status: Bogus, Verdict: audit.DnssecBogus,
			Detail: fmt.Sprintf("the TLSA lookup of %s failed in a signed zone: %s; DANE senders defer mail", name, why)}
	}
	if len(l.Records) == 0 {
		return Result{Status: None, Detail: "no TLSA records at " + name}
	}
	if !l.Secure {
		return Result{Status: Insecure, Detail: fmt.Sprintf("the TLSA records at %s are not DNSSEC-validated (no AD bit); senders ignore them", name),
			Findings: []audit.Finding{{Check: Check, Severity: audit.Info,
				Message: fmt.Sprintf("TLSA records are published at %s but not DNSSEC-signed: no sender uses them", name),
				Remedy:  "Ask the partner to sign the zone (DNSSEC) or to remove the TLSA records."}}}
	}

	var res Result
	var usable []Record
	for _, r := range l.Records {
		if r.Usable() {
			usable = append(usable, r)
		}
	}
	if len(usable) == 0 {
		res.Findings = append(res.Findings, audit.Finding{Check: Check, Severity: audit.Warning,
			Message: fmt.Sprintf("the TLSA records at %s (%s) are unusable for SMTP (RFC 7672 section 3.1.3: only usages 2 and 3 count); senders still require TLS but authenticate nothing", name, kinds(l.Records)),
			Remedy:  "Ask the partner to publish a DANE-EE record (3 1 1) of its server key, or a DANE-TA record (2 1 1) of its issuing CA."})
	}
	if !in.TLS {
		why := in.TLSError
		if why == "" {
			why = "STARTTLS was not completed"
		}
		res.Status, res.Verdict = NoTLS, audit.DaneRequiredNoTLS
		res.Detail = fmt.Sprintf("TLSA records at %s require TLS, but %s", name, why)
		return res
	}
	if len(usable) == 0 {
		res.Status, res.Detail = Unusable, "only unusable TLSA records: TLS is required but not authenticated"
		return res
	}

	kept, ignored := agile(usable)
	matched := make([]bool, len(in.Chains))
	for i, chain := range in.Chains {
		for _, r := range kept {
			if d, ok := matchChain(r, chain, in.names(), in.Now); ok {
				res.Matches = append(res.Matches, Match{Record: r, Chain: i, Depth: d})
				matched[i] = true
			}
		}
	}
	for _, r := range ignored {
		for i, chain := range in.Chains {
			if _, ok := matchChain(r, chain, in.names(), in.Now); ok && !matched[i] {
				res.Findings = append(res.Findings, audit.Finding{Check: Check, Severity: audit.Warning,
					Message: fmt.Sprintf("the %s record matches, but a stronger digest is published for the same usage and selector and does not match; senders use only the strongest (RFC 7671 section 9)", r.Kind()),
					Remedy:  "Ask the partner to publish the SHA-512 record of the current key too, or to drop the stale one."})
				break
			}
		}
	}
	res.Findings = append(res.Findings, advice(usable, in.Chains, matched)...)
	if !slices.Contains(matched, true) {
		res.Status, res.Verdict = Mismatch, audit.TlsaMismatch
		res.Detail = fmt.Sprintf("none of the usable TLSA records at %s (%s) matches the certificate the server sends%s", name, kinds(usable), expected(in.Chains))
		return res
	}
	res.Status = Valid
	m := res.Matches[0]
	what := "the key that signed the chain"
	if ch := in.Chains[m.Chain]; m.Depth < len(ch) {
		what = ch[m.Depth].Subject.String()
	}
	res.Detail = fmt.Sprintf("TLSA %s at %s matches %s", m.Record.Kind(), name, what)
	return res
}

func (in Input) names() []string {
	names := []string{strings.TrimSuffix(in.Host, ".")}
	for _, n := range append([]string{in.Domain}, in.AltNames...) {
		if n = strings.TrimSuffix(n, "."); n != "" && !slices.ContainsFunc(names, func(m string) bool { return strings.EqualFold(m, n) }) {
			names = append(names, n)
		}
	}
	return names
}

// kinds lists the distinct record parameters, "3 1 1, 2 1 1".
func kinds(rs []Record) string {
	var ks []string
	for _, r := range rs {
		if k := r.Kind(); !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	return strings.Join(ks, ", ")
}

// expected tells the record that would match each served leaf.
func expected(chains [][]*x509.Certificate) string {
	var b strings.Builder
	for _, ch := range chains {
		if len(ch) == 0 {
			continue
		}
		kt, _ := audit.KeyInfo(ch[0])
		fmt.Fprintf(&b, "; the %s key of the served certificate would match %s", kt, For(DANEEE, SPKI, SHA2256, ch[0]))
	}
	return b.String()
}

// matchChain reports whether r authenticates chain, and at which depth.
// DANE-EE (3) matches the leaf only, and ignores names and dates (RFC 7672
// section 3.1.1). DANE-TA (2) matches a certificate the server sent above
// the leaf (or, for 2 1 0, the key that signed the topmost one); the leaf
// must chain to it, be within its dates, and name one of names (section 3.1.2).
func matchChain(r Record, chain []*x509.Certificate, names []string, now time.Time) (int, bool) {
	if len(chain) == 0 {
		return 0, false
	}
	switch r.Usage {
	case DANEEE:
		return 0, r.Matches(chain[0])
	case DANETA:
		for i := 1; i < len(chain); i++ {
			if r.Matches(chain[i]) && taValid(chain, chain[i], nil, names, now) == nil {
				return i, true
			}
		}
		if r.Selector == SPKI && r.MatchingType == Full && taValid(chain, nil, r.Data, names, now) == nil {
			// A bare public key (RFC 7671 section 5.2.2) that signed a sent certificate.
			return len(chain), true
		}
	}
	return 0, false
}

// taValid checks that the leaf chains up through the sent certificates to
// ta (or to a certificate signed by the bare key spki), that every
// certificate below the anchor is within its dates, and that the leaf
// names one of names. The anchor's own dates are not checked.
func taValid(chain []*x509.Certificate, ta *x509.Certificate, spki []byte, names []string, now time.Time) error {
	leaf := chain[0]
	if !slices.ContainsFunc(names, func(n string) bool { return namesHost(leaf, n) }) {
		return fmt.Errorf("the leaf names none of %s", strings.Join(names, ", "))
	}
	var bare *x509.Certificate
	if spki != nil {
		pk, err := x509.ParsePKIXPublicKey(spki)
		if err != nil {
			return err
		}
		bare = &x509.Certificate{PublicKey: pk}
	}
	used := make([]bool, len(chain))
	cur := leaf
	used[0] = true
	for range chain {
		if now.Before(cur.NotBefore) || now.After(cur.NotAfter) {
			return fmt.Errorf("%s is outside its validity dates", cur.Subject)
		}
		if bare != nil && bare.CheckSignature(cur.SignatureAlgorithm, cur.RawTBSCertificate, cur.Signature) == nil {
			return nil
		}
		next := -1
		for j, p := range chain {
			if used[j] || !bytes.Equal(cur.RawIssuer, p.RawSubject) || cur.CheckSignatureFrom(p) != nil {
				continue
			}
			next = j
			break
		}
		if next < 0 {
			return errors.New("the chain does not lead to the trust anchor")
		}
		if chain[next] == ta {
			return nil
		}
		used[next] = true
		cur = chain[next]
	}
	return errors.New("the chain does not lead to the trust anchor")
}

// namesHost reports whether c names host: a DNS SAN (a wildcard standing
// for the leftmost label only), or the common name when there is no DNS SAN.
func namesHost(c *x509.Certificate, host string) bool {
	if len(c.DNSNames) == 0 {
		return matchName(c.Subject.CommonName, host)
	}
	return c.VerifyHostname(host) == nil
}

func matchName(pattern, host string) bool {
	pattern, host = strings.ToLower(strings.TrimSuffix(pattern, ".")), strings.ToLower(strings.TrimSuffix(host, "."))
	if pattern == host {
		return pattern != ""
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		if _, after, found := strings.Cut(host, "."); found {
			return after == rest && !strings.HasPrefix(host, ".")
		}
	}
	return false
}

// advice gives the rollover findings of RFC 7671 section 8 and the
// DANE-for-SMTP how-to: a lone 3 1 x record with no next key, a 2 0 x
// record, and a server with several certificates of which not all match.
func advice(usable []Record, chains [][]*x509.Certificate, matched []bool) []audit.Finding {
	var out []audit.Finding
	// No next key: every usable record is DANE-EE and matches a leaf served now.
	next := slices.ContainsFunc(usable, func(r Record) bool {
		return r.Usage != DANEEE || !slices.ContainsFunc(chains, func(ch []*x509.Certificate) bool { return len(ch) > 0 && r.Matches(ch[0]) })
	})
	if !next && slices.Contains(matched, true) {
		out = append(out, audit.Finding{Check: Check, Severity: audit.Warning,
			Message: "only the current key has a TLSA record (" + kinds(usable) + "): the next key is not published, so the next certificate change breaks DANE until DNS catches up",
			Remedy:  "Ask the partner to publish \"current + next\": a second 3 1 1 record for the next key (or a 2 1 1 record of its issuing CA) before it changes keys."})
	}
	for _, r := range usable {
		if r.Usage == DANETA && r.Selector == Cert {
			out = append(out, audit.Finding{Check: Check, Severity: audit.Warning,
				Message: "a " + r.Kind() + " record pins the issuing CA's whole certificate: it breaks when the CA re-issues its certificate, even with the same key",
				Remedy:  "Ask the partner to publish 2 1 1 (the CA's public key) instead of " + r.Kind() + "."})
			break
		}
	}
	if len(chains) > 1 && slices.Contains(matched, true) {
		for i, ok := range matched {
			if ok || len(chains[i]) == 0 {
				continue
			}
			kt, _ := audit.KeyInfo(chains[i][0])
			out = append(out, audit.Finding{Check: Check, Severity: audit.Error,
				Message: fmt.Sprintf("the server also serves a %s certificate that no TLSA record matches: DANE senders that negotiate it defer mail", kt),
				Remedy:  fmt.Sprintf("Ask the partner to publish a TLSA record for its %s certificate too (%s), or to stop serving it.", kt, For(DANEEE, SPKI, SHA2256, chains[i][0]))})
		}
	}
	return out
}

// Apply records r in a partner's result (the verdict with its detail when
// there is one, and the findings) and its "dane" fact in facts, if not nil.
func (r Result) Apply(res *audit.Result, facts *audit.Policies) {
	if facts == nil {
		facts = &audit.Policies{}
	}
	facts.DANE, facts.DANEDetail = string(r.Status), r.Detail
	if r.Verdict != "" {
		addVerdict(res, r.Verdict, r.Detail)
	}
	res.Findings = append(res.Findings, r.Findings...)
}

func addVerdict(res *audit.Result, v audit.Verdict, detail string) {
	if res.Details == nil {
		res.Details = map[audit.Verdict]string{}
	}
	if old, ok := res.Details[v]; ok {
		res.Details[v] = old + "; " + detail
		return
	}
	res.Verdicts = append(res.Verdicts, v)
	res.Details[v] = detail
}
