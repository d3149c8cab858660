package audit

import (
	"fmt"
	"time"
)

// Case names which of several situations behind one verdict applies, so
// that the remedy (ours and the partner's) fits it; the verdict keeps the
// name Windows gives it.
type Case string

// Cases of PartialChain.
const (
	// CaseMissingRoot: the server sends its certificate and a CA certificate
	// whose issuer is neither sent nor trusted. OpenSSL and GnuTLS servers
	// never send the root, so the missing certificate is most likely the
	// partner's (private) root CA, which we must import.
	CaseMissingRoot Case = "missing-root"
	// CaseMissingIntermediate: the server sends its certificate alone and
	// its issuer is not trusted: the partner must send its intermediate.
	CaseMissingIntermediate Case = "missing-intermediate"
)

// cases lists the cases of each verdict that has some.
var cases = map[Verdict][]Case{
	PartialChain: {CaseMissingRoot, CaseMissingIntermediate},
}

// Cases returns the cases verdict v can come in, or nil.
func (v Verdict) Cases() []Case { return cases[v] }

// HasCase reports whether c is one of v's cases.
func (v Verdict) HasCase(c Case) bool {
	for _, k := range cases[v] {
		if k == c {
			return true
		}
	}
	return false
}

// caseText is the wording of one case; %[1]s in it is " (name)" of the
// certificate the case names (for PartialChain, the missing issuer), or "".
type caseText struct{ admin, partner string }

var caseTexts = map[Verdict]map[Case]caseText{
	PartialChain: {
		CaseMissingRoot: {
			admin: "The partner's server already sends its intermediate CA; what is missing is most likely the partner's root CA%[1]s, which servers do not send. " +
				"Obtain that root CA certificate from the partner through a trusted channel, compare its thumbprint with the partner by phone or signed mail, and import it into the Trusted Root Certification Authorities store of your mail servers (and put it in --private-roots). " +
				"Alternatively ask the partner for a certificate from a public CA.",
			partner: "Your server sends its certificate and its intermediate CA certificate, but we do not have your root CA certificate%[1]s. " +
				"Please send us that root CA certificate together with its SHA-256 thumbprint (which we will confirm with you by phone) so that we can trust it, or use a certificate from a public certification authority.",
		},
		CaseMissingIntermediate: {
			admin: "Ask the partner to send its intermediate CA certificate%[1]s with its own certificate; as a stopgap, import that intermediate into the Intermediate Certification Authorities store.",
			partner: "Please configure your server to send its intermediate CA certificate%[1]s together with its own certificate " +
				"(in Postfix, put the intermediate after the server certificate in smtpd_tls_chain_files or smtpd_tls_cert_file).",
		},
	},
}

// Case returns the case of verdict v for r: the one verify recorded in
// r.Cases (results.json "cases", field 17 of the check protocol), or, for a
// result that carries none (an older results.json), the case derived from
// r's chain by the same rule.
func (r *Result) Case(v Verdict) Case {
	if c, ok := r.Cases[v]; ok {
		return c
	}
	if v == PartialChain && r.Has(PartialChain) && len(r.Chain) > 0 {
		return PartialChainCase(sentPathLen(r.Chain))
	}
	return ""
}

// PartialChainCase is the case of a PartialChain whose sent chain, followed
// by issuer links from the leaf, holds n certificates: a chain that stops at
// the leaf misses its intermediate; a longer one stops at a CA whose issuer,
// most likely the root, is missing.
func PartialChainCase(n int) Case {
	if n <= 1 {
		return CaseMissingIntermediate
	}
	return CaseMissingRoot
}

// sentPathLen follows issuer names from the leaf through the sent chain.
func sentPathLen(chain []Cert) int {
	used := make([]bool, len(chain))
	used[0] = true
	n, cur := 1, chain[0]
	for cur.Issuer != cur.Subject {
		next := -1
		for i, c := range chain {
			if !used[i] && c.Subject == cur.Issuer {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		used[next], cur = true, chain[next]
		n++
	}
	return n
}

// Missing returns the subject of the certificate r's PartialChain misses
// (verify records the missing issuer as the root's subject), or "".
func (r *Result) Missing() string {
	if r.Has(PartialChain) && (r.Root.Store == RootNone || r.Root.Store == "") {
		return r.Root.Subject
	}
	return ""
}

// VerdictRemedy returns what our admins do about verdict v of r: the
// wording of v's case when it has one, else v.Remedy().
func (r *Result) VerdictRemedy(v Verdict) string { return v.CaseRemedy(r.Case(v), r.Missing()) }

// VerdictPartnerRemedy returns what the partner is asked to do about
// verdict v of r: the partner wording of v's case when it has one, else
// v.PartnerRemedy(). It never carries our admins' wording.
func (r *Result) VerdictPartnerRemedy(v Verdict) string {
	return v.CasePartnerRemedy(r.Case(v), r.Missing())
}

// CaseRemedy returns what our admins do about v in case c, naming the
// certificate the case is about (for PartialChain, the missing issuer);
// v.Remedy() when v has no such case.
func (v Verdict) CaseRemedy(c Case, name string) string {
	if t, ok := caseTexts[v][c]; ok {
		return fmt.Sprintf(t.admin, quoteName(name))
	}
	return v.Remedy()
}

// CasePartnerRemedy returns what the partner is asked to do about v in
// case c, as CaseRemedy; v.PartnerRemedy() when v has no such case.
func (v Verdict) CasePartnerRemedy(c Case, name string) string {
	if t, ok := caseTexts[v][c]; ok {
		return fmt.Sprintf(t.partner, quoteName(name))
	}
	return v.PartnerRemedy()
}

// VerdictSeverity returns the severity of verdict v for r: as
// v.SeverityUnder for r's enforcement and the source of the root r's chain
// ends in.
func (r *Result) VerdictSeverity(v Verdict) Severity {
	return v.SeverityUnder(r.Enforced, r.Root.Store)
}

// quoteName puts a certificate's name in parentheses after the word it
// names, or nothing when it is not known.
func quoteName(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// DaysText says how far t is from now in words, counting days as DaysLeft
// does: "12 days left", "1 day left", "less than a day left", "expired 1062
// days ago".
func DaysText(t, now time.Time) string {
	d := DaysLeft(t, now)
	if d == 0 && !t.After(now) {
		return "expired less than a day ago"
	}
	return DaysWords(d)
}

// DaysWords says a DaysLeft count in words: "12 days left", "1 day left",
// "less than a day left", "expired 1 day ago", "expired 1062 days ago".
func DaysWords(d int) string {
	switch {
	case d == -1:
		return "expired 1 day ago"
	case d < 0:
		return fmt.Sprintf("expired %d days ago", -d)
	case d == 0:
		return "less than a day left"
	case d == 1:
		return "1 day left"
	}
	return fmt.Sprintf("%d days left", d)
}
