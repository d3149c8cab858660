package reports

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// WriteProbeExplanation writes partner i of res for a person, as `mxaudit
// probe` prints it: a partner known by its domain, or with several targets,
// gets a line counting its MX hosts and addresses, each MX host with its
// addresses and their verdicts, its findings and the run's notes, then
// every target explained (WriteExplanation) and what the partner as a
// whole gets; a partner probed at one host is its WriteExplanation alone.
func WriteProbeExplanation(w io.Writer, res *audit.Results, i int, transcript bool) error {
	r := &res.Partners[i]
	if len(r.Targets) <= 1 && r.Domain == "" {
		return WriteExplanation(w, r, res.Started, transcript)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", r.Name, targetsLine(r))
	for _, l := range mxLines(r) {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  finding:   [%s] %s: %s\n", f.Severity, f.Check, f.Message)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "  note:      %s\n", n)
	}
	for k := range r.Targets {
		v := r.Targets[k].View(r)
		v.Findings = nil // said once above
		b.WriteString("\n")
		if err := WriteExplanation(&b, &v, res.Started, transcript); err != nil {
			return err
		}
	}
	fmt.Fprintf(&b, "\n%s: %s (%s)", r.Name, r.Verdict, r.WorstSeverity())
	if t := r.TargetsText(); t != "" {
		fmt.Fprintf(&b, " on %s", t)
	}
	b.WriteString("\n")
	if len(r.Targets) == 0 {
		for _, v := range r.Verdicts {
			fmt.Fprintf(&b, "    %-17s %s\n", v, r.Details[v])
		}
		if r.Remedy != "" {
			fmt.Fprintf(&b, "  remedy:    %s\n", r.Remedy)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// targetsLine counts a partner's MX hosts and addresses.
func targetsLine(r *audit.Result) string {
	hosts := map[string]bool{}
	for _, t := range r.Targets {
		hosts[t.MX] = true
	}
	s := fmt.Sprintf("%d MX hosts, %d addresses", len(hosts), len(r.Targets))
	if n := len(r.NotTested); n > 0 {
		s += fmt.Sprintf(" (%d more not tested from here)", n)
	}
	return s
}

// mxLines lists each MX host with how it was found, its preference and its
// addresses with their verdicts, in the order found.
func mxLines(r *audit.Result) []string {
	var order []string
	addrs := map[string][]string{}
	head := map[string]string{}
	for _, t := range r.Targets {
		if _, ok := addrs[t.MX]; !ok {
			order = append(order, t.MX)
			head[t.MX] = fmt.Sprintf("%s %d %s", strings.ToUpper(t.Found), t.Preference, t.MX)
		}
		if t.Address != "" {
			addrs[t.MX] = append(addrs[t.MX], t.Address+" "+string(t.Verdict))
		} else {
			addrs[t.MX] = append(addrs[t.MX], string(t.Verdict))
		}
	}
	var out []string
	for _, mx := range order {
		out = append(out, head[mx]+": "+strings.Join(addrs[mx], ", "))
	}
	return out
}

// WriteExplanation writes one target's result for a person, as `mxaudit probe`
// prints it: the SMTP and TLS facts, each certificate of the chain, the trust
// anchor, revocation, the verdicts with their details, findings and remedy,
// and the SMTP transcript when transcript is set; days are counted from now.
func WriteExplanation(w io.Writer, r *audit.Result, now time.Time, transcript bool) error {
	var b strings.Builder
	explainSession(&b, r)
	explainChain(&b, r, now)
	explainRoot(&b, r.Root)
	if rv := r.Revocation; rv != nil {
		fmt.Fprintf(&b, "  revocation: %s\n", revocationLine(rv))
	}
	explainVerdicts(&b, r)
	if transcript {
		b.WriteString("  transcript:\n")
		for _, l := range r.SMTP.Transcript {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// explainSession writes the target, where it was reached, and what the server said before the chain.
func explainSession(b *strings.Builder, r *audit.Result) {
	fmt.Fprintf(b, "%s (%s)", r.Partner.Target(), r.TLS)
	if r.SMTP.RemoteAddr != "" && r.SMTP.RemoteAddr != r.Partner.Target().DialAddress() {
		fmt.Fprintf(b, " at %s", r.SMTP.RemoteAddr)
	}
	fmt.Fprintf(b, ", %d ms\n", r.DurationMS)
	if len(r.SMTP.Greeting) > 0 {
		fmt.Fprintf(b, "  greeting:  %s\n", strings.Join(r.SMTP.Greeting, " / "))
	}
	if r.TLS == audit.StartTLS && len(r.SMTP.EHLO) > 0 {
		fmt.Fprintf(b, "  STARTTLS:  offered %v\n", r.SMTP.StartTLS)
	}
	if r.TLSVersion != "" {
		fmt.Fprintf(b, "  TLS:       %s, %s\n", r.TLSVersion, r.Cipher)
	}
}

// explainChain writes each certificate of the chain, and one line per key type when the server holds several.
func explainChain(b *strings.Builder, r *audit.Result, now time.Time) {
	for i, ct := range r.Chain {
		fmt.Fprintf(b, "  cert %d:    %s\n", i, ct.Subject)
		fmt.Fprintf(b, "             issuer %s\n", ct.Issuer)
		fmt.Fprintf(b, "             valid %s to %s (%s), %s %d bits, %s\n",
			ct.NotBefore.Format(time.DateOnly), ct.NotAfter.Format(time.DateOnly), audit.DaysText(ct.NotAfter, now), ct.KeyType, ct.KeyBits, ct.SigAlg)
		if len(ct.DNSNames) > 0 {
			fmt.Fprintf(b, "             names %s\n", strings.Join(ct.DNSNames, ", "))
		}
		fmt.Fprintf(b, "             SHA-1 %s\n", ct.SHA1)
	}
	for _, ca := range r.Certificates {
		fmt.Fprintf(b, "  %-10s %s, %s: %v\n", ca.KeyType+":", ca.Chain[0].Subject, ca.TLSVersion, ca.Verdicts)
	}
}

// explainRoot writes the trust anchor the chain ends in, or the root it points at.
func explainRoot(b *strings.Builder, root audit.Root) {
	switch {
	case root.Store == audit.RootPrivate:
		fmt.Fprintf(b, "  root:      %s (imported private root, %s)\n", root.Subject, root.File)
	case root.Store == audit.RootSystem:
		fmt.Fprintf(b, "  root:      %s (system roots)\n", root.Subject)
	case root.Subject != "":
		fmt.Fprintf(b, "  root:      none trusted (chain points at %s)\n", root.Subject)
	}
}

// revocationLine says how the chain was checked for revocation and what came of it.
func revocationLine(rv *audit.Revocation) string {
	line, detail := rv.Method+": "+rv.Status, rv.Detail
	if rv.Status == "not checked" {
		line, detail = cmp.Or(rv.Detail, "not checked"), ""
	}
	if !rv.NextUpdate.IsZero() {
		line += ", answer valid until " + rv.NextUpdate.Format(time.RFC3339)
	}
	if detail != "" {
		line += " (" + detail + ")"
	}
	return line
}

// explainVerdicts writes the primary verdict, the details of each verdict, the findings and the remedy.
func explainVerdicts(b *strings.Builder, r *audit.Result) {
	fmt.Fprintf(b, "  verdict:   %s (%s)\n", r.Verdict, r.WorstSeverity())
	for _, v := range r.Verdicts {
		if d := r.Details[v]; d != "" {
			fmt.Fprintf(b, "    %-17s %s\n", v, d)
		}
	}
	for _, f := range r.Findings {
		fmt.Fprintf(b, "  finding:   [%s] %s: %s\n", f.Severity, f.Check, f.Message)
	}
	if r.Remedy != "" {
		fmt.Fprintf(b, "  remedy:    %s\n", r.Remedy)
	}
}
