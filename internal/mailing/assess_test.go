package mailing

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/templates"
)

// The root CA we imported from Tailspin Toys expires in 45 days: outside
// --expiring-days (30) but within the private roots' own window (90).
var tailspinRoot = audit.PrivateRoot{File: "tailspin-root.cer", Subject: "CN=Tailspin Root CA, O=Tailspin Toys", SHA256: strings.Repeat("7A", 32),
	NotBefore: started.AddDate(-10, 0, 0), NotAfter: started.AddDate(0, 0, 45), DaysLeft: 45,
	UsedBy: []string{"Tailspin Toys"}, DeclaredBy: []string{"Tailspin Toys"}, Status: audit.RootExpiring}

// Admin wording that must never reach a partner: our runbooks' remedies and our own side's findings.
var adminWords = []string{"Ask the partner", "Intermediate Certification Authorities store", "Trusted Root Certification Authorities",
	"--private-roots", "Import the partner", "and import it before this one expires", "TlsCertificateName", "Obtain the new root", "private root CN="}

// tailspin is a partner whose only finding is on our side: the root we imported from it expires.
func tailspin() audit.Result {
	r := result("Tailspin Toys", "tailspintoys.example", true, "pki@tailspintoys.example", []audit.Verdict{audit.Valid},
		cert("CN=mail.tailspintoys.example", "CN=Tailspin Root CA, O=Tailspin Toys", started.AddDate(1, 0, 0)))
	r.Host = "mail.tailspintoys.example"
	r.Root = audit.Root{Store: audit.RootPrivate, File: tailspinRoot.File, Subject: tailspinRoot.Subject, NotAfter: tailspinRoot.NotAfter, SHA256: tailspinRoot.SHA256}
	// As the checks host copies a private root's finding onto the partners trusting it.
	r.Findings = []audit.Finding{{Check: "private-root", Severity: audit.Warning,
		Message: "private root " + tailspinRoot.Subject + ": private root " + tailspinRoot.Subject + " (tailspin-root.cer) expires on 2026-04-30 (in 45 days)",
		Remedy:  "Ask the partner for its next root CA certificate and import it before this one expires."}}
	return r
}

// firstup is a partner whose leaf expires in 10 days; the expiry check warns about it in our admin's words.
func firstup() audit.Result {
	r := result("Firstup", "firstup.example", false, "it@firstup.example", []audit.Verdict{audit.Valid},
		cert("CN=mx.firstup.example", "CN=Public CA", started.AddDate(0, 0, 10)))
	r.Findings = []audit.Finding{{Check: "expiry", Severity: audit.Warning,
		Message: "leaf certificate CN=mx.firstup.example expires on 2026-03-26 (in 10 days)", Remedy: "Ask the partner to renew its certificate before it expires."}}
	return r
}

// contoso is an enforced partner missing its intermediate: PartialChain, restated by
// the verdict, enforced and aia checks, the last in our admin's words.
func contoso() audit.Result {
	r := result("Contoso Partial", "contoso.example", true, "tls@contoso.example", []audit.Verdict{audit.PartialChain},
		cert("CN=mx.contoso.example", "CN=Contoso Issuing CA", started.AddDate(1, 0, 0)))
	r.Details = map[audit.Verdict]string{audit.PartialChain: "the server sends only its own certificate; its issuer CN=Contoso Issuing CA is missing"}
	r.Findings = []audit.Finding{
		{Check: "verdict", Severity: audit.Critical, Message: "PartialChain", Remedy: audit.PartialChain.Remedy()},
		{Check: "enforced", Severity: audit.Critical, Message: "TLS is enforced for this partner but its TLS is PartialChain: mail to it is queued", Remedy: audit.PartialChain.Remedy()},
		{Check: "aia", Severity: audit.Warning, Message: "The server does not send the intermediate CA certificate CN=Contoso Issuing CA. Windows still builds the chain.",
			Remedy: "Ask the partner to send the intermediate CN=Contoso Issuing CA with its certificate. Until then keep outbound HTTP open, or import the intermediate into the Intermediate Certification Authorities store."},
	}
	return r
}

// fabrikam is one partner listed with two MX hosts, one fine and one misnamed, with different contacts.
func fabrikam() (audit.Result, audit.Result) {
	a := result("Fabrikam", "fabrikam.example", false, "postmaster@fabrikam.example", []audit.Verdict{audit.Valid},
		cert("CN=mx1.fabrikam.example", "CN=Public CA", started.AddDate(1, 0, 0)))
	a.Host = "mx1.fabrikam.example"
	b := result("Fabrikam", "fabrikam.example", false, "Security <security@fabrikam.example>, POSTMASTER@fabrikam.example", []audit.Verdict{audit.NameMismatch},
		cert("CN=mail.fabrikam-old.example", "CN=Public CA", started.AddDate(1, 0, 0)))
	b.Host = "mx2.fabrikam.example"
	b.Details = map[audit.Verdict]string{audit.NameMismatch: "the certificate names mail.fabrikam-old.example, not mx2.fabrikam.example"}
	return a, b
}

// issueFixture is the run of the issue: a partner with only our side's
// finding, one expiring in 10 days, one missing its intermediate, one
// listed twice, and one without findings.
func issueFixture() *audit.Results {
	fa, fb := fabrikam()
	return &audit.Results{
		Schema: audit.SchemaVersion, Started: started, Finished: started.Add(time.Minute),
		Partners: []audit.Result{tailspin(), firstup(), contoso(), fa,
			result("Northwind", "northwind.example", false, "ops@northwind.example", []audit.Verdict{audit.Valid},
				cert("CN=mx.northwind.example", "CN=Public CA", started.AddDate(1, 0, 0))),
			fb},
		PrivateRoots: []audit.PrivateRoot{tailspinRoot},
	}
}

func TestPick(t *testing.T) {
	none := deadline{}
	in := func(d int) deadline { return deadline{d, true} }
	tests := []struct {
		name       string
		problems   int
		cert, root deadline
		want       Situation
	}{
		{"nothing", 0, none, none, AllGood},
		{"a problem", 1, none, none, Failing},
		{"a problem beats expiring and root", 2, in(3), in(1), Failing},
		{"own certificate expires", 0, in(10), none, Expiring},
		{"imported root expires", 0, none, in(45), RootSuccessor},
		{"imported root expired", 0, none, in(-5), RootSuccessor},
		{"own certificate sooner than root", 0, in(10), in(45), Expiring},
		{"root sooner than own certificate", 0, in(20), in(12), RootSuccessor},
		{"tie goes to the root", 0, in(20), in(20), RootSuccessor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pick(tt.problems, tt.cert, tt.root); got != tt.want {
				t.Errorf("pick(%d, %v, %v) = %s, want %s", tt.problems, tt.cert, tt.root, got, tt.want)
			}
		})
	}
}

func TestAssess(t *testing.T) {
	far := started.AddDate(1, 0, 0)
	fa, fb := fabrikam()
	withFindings := func(r audit.Result, fs ...audit.Finding) audit.Result {
		r.Findings = append(r.Findings, fs...)
		return r
	}
	valid := func(name string, chain ...audit.Cert) audit.Result {
		return result(name, strings.ToLower(name)+".example", false, "", []audit.Verdict{audit.Valid}, chain...)
	}
	expiredRoot := audit.PrivateRoot{File: "old.cer", Subject: "CN=Old Root", SHA256: strings.Repeat("0D", 32), NotAfter: started.AddDate(0, 0, -5), DeclaredBy: []string{"Old"}}
	old := result("Old", "old.example", true, "", []audit.Verdict{audit.Expired}, cert("CN=mx.old.example", "CN=Old Root", far))
	old.Root = audit.Root{Store: audit.RootNone}
	moved := valid("Moved", cert("CN=mx.moved.example", "CN=Public CA", far))
	moved.Root = audit.Root{Store: audit.RootSystem, Subject: "CN=Public Root", SHA256: strings.Repeat("11", 32)}
	movedRoot := expiredRoot
	movedRoot.DeclaredBy = []string{"Moved"}
	notProbed := result("Fabrikam", "fabrikam.example", false, "", []audit.Verdict{audit.NotProbed})
	// Valid as audited, but our Postfix at secure defers: the certificate names only the provider.
	hosted := valid("Hosted", cert("CN=mx.provider.example", "CN=Public CA", far))
	hosted.Delivery = &audit.Delivery{Outcome: audit.Deferred, MTA: "Postfix", Policy: "secure", Source: "/etc/postfix/tls_policy:7",
		Rule: "Postfix secure: Server certificate not verified: no name in the certificate matches nexthop:dot-nexthop (hosted.example, .hosted.example)"}
	flows := valid("Flows", cert("CN=mx.flows.example", "CN=Public CA", far))
	flows.Delivery = &audit.Delivery{Outcome: audit.DeliversUnauthenticated, MTA: "Postfix", Policy: "encrypt", Rule: "Postfix encrypt: mandatory TLS encryption"}
	tests := []struct {
		name     string
		rows     []audit.Result
		roots    []audit.PrivateRoot
		days     int
		want     Situation
		problems []string // Issue: Remedy
		expiring []string // subjects
		requests []string // subjects of roots to renew
		soon     bool
	}{
		{"all good", []audit.Result{valid("P", cert("CN=mx.p.example", "CN=CA", far))}, nil, 30, AllGood, nil, nil, nil, false},
		{"our root expires in 45 days: ask for its successor, no problem", []audit.Result{tailspin()}, []audit.PrivateRoot{tailspinRoot}, 30,
			RootSuccessor, nil, nil, []string{tailspinRoot.Subject}, false},
		{"our root within --expiring-days counts as expiring soon", []audit.Result{tailspin()}, []audit.PrivateRoot{tailspinRoot}, 60,
			RootSuccessor, nil, nil, []string{tailspinRoot.Subject}, true},
		{"leaf in 10 days with an expiry warning is expiring, not failing", []audit.Result{firstup()}, nil, 30,
			Expiring, nil, []string{"CN=mx.firstup.example"}, nil, true},
		{"leaf in exactly 30 days", []audit.Result{valid("P", cert("CN=mx.p.example", "CN=CA", started.AddDate(0, 0, 30)))}, nil, 30,
			Expiring, nil, []string{"CN=mx.p.example"}, nil, true},
		{"leaf in 31 days", []audit.Result{valid("P", cert("CN=mx.p.example", "CN=CA", started.AddDate(0, 0, 31)))}, nil, 30, AllGood, nil, nil, nil, false},
		{"intermediate sooner than leaf", []audit.Result{valid("P", cert("CN=mx.p.example", "CN=CA", started.AddDate(0, 0, 25)), cert("CN=Inter CA", "CN=Root", started.AddDate(0, 0, 5)))}, nil, 30,
			Expiring, nil, []string{"CN=Inter CA", "CN=mx.p.example"}, nil, true},
		{"missing intermediate is one problem, in the partner's words", []audit.Result{contoso()}, nil, 30,
			Failing, []string{"PartialChain: " + audit.PartialChain.CasePartnerRemedy(audit.CaseMissingIntermediate, "")}, nil, nil, false},
		{"partner findings get the partner's wording; unknown checks lose our remedy; ours are dropped",
			[]audit.Result{withFindings(valid("P", cert("CN=mx.p.example", "CN=CA", far)),
				audit.Finding{Check: "tls-version", Severity: audit.Warning, Message: "the server negotiated TLS 1.0", Remedy: "Ask the partner to enable TLS 1.2"},
				audit.Finding{Check: "no-wildcard", Severity: audit.Warning, Message: "wildcard certificate for *.p.example", Remedy: "Ask the partner for a certificate naming its mail host."},
				audit.Finding{Check: "CheckFailed", Severity: audit.Warning, Message: "check x failed", Remedy: "Look at the plugin."},
				audit.Finding{Check: "pin", Severity: audit.Warning, Message: "the inventory's pin cannot be read"},
				audit.Finding{Check: "weak-cipher", Severity: audit.Info, Message: "info only"})},
			nil, 30, Failing, []string{"tls-version: Please enable TLS 1.2 and 1.3 on your mail server and disable older protocol versions.", "no-wildcard: "}, nil, nil, false},
		{"failing with an expiring leaf lists both", []audit.Result{result("P", "p.example", true, "", []audit.Verdict{audit.NameMismatch},
			cert("CN=mx.p.example", "CN=CA", started.AddDate(0, 0, 3)))}, nil, 30,
			Failing, []string{"NameMismatch: " + audit.NameMismatch.PartnerRemedy()}, []string{"CN=mx.p.example"}, nil, true},
		{"expired root the partner declared: ask for the replacement", []audit.Result{old}, []audit.PrivateRoot{expiredRoot}, 30,
			Failing, []string{"Expired: " + audit.Expired.PartnerRemedy()}, nil, []string{"CN=Old Root"}, false},
		{"partner moved to a public CA: no request for its old root", []audit.Result{moved}, []audit.PrivateRoot{movedRoot}, 30, AllGood, nil, nil, nil, false},
		{"two rows of one partner: the problem of the second", []audit.Result{fa, fb}, nil, 30,
			Failing, []string{"NameMismatch: " + audit.NameMismatch.PartnerRemedy()}, nil, nil, false},
		{"a row not probed is left out", []audit.Result{fa, notProbed}, nil, 30, AllGood, nil, nil, nil, false},
		{"our Postfix defers mail to a valid partner: the mail says which policy and what to change", []audit.Result{hosted}, nil, 30,
			Failing, []string{"our-tls-policy: Please use a certificate from a public certification authority (or the one we trust for you) that names hosted.example or a name under it, and send its intermediate certificates with it."}, nil, nil, false},
		{"mail flows under our policy: nothing to tell", []audit.Result{flows}, nil, 30, AllGood, nil, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := make([]*audit.Result, len(tt.rows))
			for i := range tt.rows {
				rows[i] = &tt.rows[i]
			}
			a, err := Assess(rows, tt.roots, started, tt.days, audit.DefaultThresholds(), templates.Default())
			if err != nil {
				t.Fatal(err)
			}
			var probs, exp, reqs []string
			for _, p := range a.Problems {
				probs = append(probs, p.Issue+": "+p.Remedy)
				for _, w := range adminWords {
					if strings.Contains(p.Message+p.Remedy, w) {
						t.Errorf("problem %s carries admin wording %q: %q / %q", p.Issue, w, p.Message, p.Remedy)
					}
				}
			}
			for _, e := range a.Expiring {
				exp = append(exp, e.Subject)
			}
			for _, q := range a.Roots {
				reqs = append(reqs, q.Subject)
			}
			if a.Situation != tt.want || !slices.Equal(probs, tt.problems) || !slices.Equal(exp, tt.expiring) || !slices.Equal(reqs, tt.requests) || a.ExpiringSoon != tt.soon {
				t.Errorf("got %s\n problems %q\n expiring %v\n roots %v\n soon %v\nwant %s\n problems %q\n expiring %v\n roots %v\n soon %v",
					a.Situation, probs, exp, reqs, a.ExpiringSoon, tt.want, tt.problems, tt.expiring, tt.requests, tt.soon)
			}
		})
	}
}
