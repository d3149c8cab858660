package reports

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
)

// SheetPolicies is the workbook sheet with the partners' published
// policies (DNSSEC, DANE, MTA-STS, TLS-RPT), one row per target.
const SheetPolicies = "Policies"

// policyRow is one target's published policies as the Policies sheet and the PDF tell them.
type policyRow struct {
	r      *audit.Result
	mx     string
	addr   string
	p      *audit.Policies
	types  string // the RFC 8460 result types of the target's verdicts
	failed string // the target's policy verdicts
}

// policyRowsOf appends the published policies of partner r's targets that have them to out.
func policyRowsOf(r *audit.Result, out []policyRow) []policyRow {
	for k := range r.Targets {
		t := &r.Targets[k]
		if t.Policies == nil {
			continue
		}
		out = append(out, policyRow{r: r, mx: t.MX, addr: t.Address, p: t.Policies,
			types: resultTypes(t.Verdicts, t.ResultTypes), failed: policyVerdicts(t.Verdicts)})
	}
	return out
}

// resultTypes lists "verdict: result-type" for the verdicts that have an RFC 8460 result type.
func resultTypes(vs []audit.Verdict, types map[audit.Verdict]audit.ResultType) string {
	var out []string
	for _, v := range vs {
		if rt := types[v]; rt != "" {
			out = append(out, string(v)+": "+string(rt))
		}
	}
	return strings.Join(out, ", ")
}

func policyVerdicts(vs []audit.Verdict) string {
	var out []string
	for _, v := range vs {
		if slices.Contains(audit.PolicyVerdicts, v) {
			out = append(out, string(v))
		}
	}
	return strings.Join(out, ", ")
}

func (x *xl) policies() error {
	cols := []column{
		{"Partner", 28}, {"Domain", 22}, {"MX host", 28}, {"Address", 16}, {"DNSSEC", 10}, {"DANE", 10},
		{"DANE detail", 60}, {"TLSA records", 40}, {"MTA-STS", 10}, {"MTA-STS id", 18}, {"MTA-STS mx", 30},
		{"TLS-RPT", 10}, {"TLS-RPT rua", 36}, {"Policy verdicts", 30}, {"RFC 8460 result types", 40},
	}
	s := sheet{name: SheetPolicies, table: "Policies", cols: cols, whole: FileResultsJSON}
	return x.stream(s, func(row func([]any) error) error {
		for r := range x.partners {
			for _, pr := range policyRowsOf(r, nil) {
				p := pr.p
				if err := row([]any{pr.r.Name, pr.r.Domain, pr.mx, pr.addr, p.DNSSEC, p.DANE, p.DANEDetail,
					strings.Join(p.TLSA, "\n"), p.MTASTS, p.MTASTSID, strings.Join(p.MTASTSMX, ", "),
					p.TLSRPT, strings.Join(p.TLSRPTRUA, ", "), pr.failed, pr.types}); err != nil {
					return err
				}
			}
		}
		return nil
	}, nil)
}

// policyLines says a target's published policies in words an admin reads,
// for `mxaudit probe` and the PDF: one "label: text" pair per policy.
func policyLines(p *audit.Policies) [][2]string {
	if p == nil {
		return nil
	}
	var out [][2]string
	dnssec := map[string]string{
		audit.DNSSECSecure:    "secure: the MX and address answers were validated by the resolver (AD bit), so DANE applies",
		audit.DNSSECInsecure:  "insecure: the answers for this MX are not signed (no AD bit), so senders ignore any TLSA record",
		audit.DNSSECUntrusted: "not checked: the resolver is not trusted for DNSSEC (use a local validating resolver, or --dnssec-resolver-trusted)",
		audit.DNSSECBogus:     "bogus: the resolver could not validate an answer of a signed zone; DANE senders defer mail",
	}[p.DNSSEC]
	if dnssec != "" {
		out = append(out, [2]string{"DNSSEC", dnssec})
	}
	if p.DANE != "" {
		out = append(out, [2]string{"DANE", p.DANE + ": " + p.DANEDetail})
	}
	for _, r := range p.TLSA {
		out = append(out, [2]string{"TLSA", r})
	}
	switch p.MTASTS {
	case "":
	case "absent":
		out = append(out, [2]string{"MTA-STS", "none published (no _mta-sts TXT record)"})
	case "failed":
		out = append(out, [2]string{"MTA-STS", "published (id " + p.MTASTSID + ") but no usable policy: senders cannot apply it"})
	default:
		s := fmt.Sprintf("mode %s, id %s", p.MTASTS, p.MTASTSID)
		if len(p.MTASTSMX) > 0 {
			s += ", mx " + strings.Join(p.MTASTSMX, ", ")
		}
		out = append(out, [2]string{"MTA-STS", s})
	}
	switch p.TLSRPT {
	case "":
	case "present":
		out = append(out, [2]string{"TLS-RPT", "reports go to " + strings.Join(p.TLSRPTRUA, ", ")})
	case "absent":
		out = append(out, [2]string{"TLS-RPT", "none published: senders cannot report failed TLS deliveries"})
	default:
		out = append(out, [2]string{"TLS-RPT", p.TLSRPT + ": senders ignore the record"})
	}
	return out
}

// explainPolicies writes a target's published policies for `mxaudit probe`.
func explainPolicies(b *strings.Builder, p *audit.Policies) {
	for _, l := range policyLines(p) {
		fmt.Fprintf(b, "  %-10s %s\n", l[0]+":", l[1])
	}
}

// policies writes the PDF section of the published policies: one row per
// target whose policies were checked; nothing when none was.
func (d *doc) policies() {
	t := d.v.t
	if t.policiesN == 0 {
		return
	}
	d.addPage()
	d.heading("Published policies: DNSSEC, DANE, MTA-STS, TLS-RPT", 16)
	d.para("What each partner publishes for senders that check TLS (Exchange Online, Postfix with dane, Gmail): "+
		"a failure here loses mail from every such sender, even when your own connector would deliver. "+
		"The RFC 8460 result type is what the partner's TLS-RPT reports will say.", "", 9.5, 4.8)
	rows := t.policies
	d.table([]tcol{{"Partner", 32, "L", true}, {"MX host", 38, "L", true}, {"DNSSEC", 16, "L", false}, {"DANE", 16, "L", false},
		{"MTA-STS", 24, "L", true}, {"TLS-RPT", 16, "L", false}, {"Problems (RFC 8460)", 38, "L", true}},
		len(rows), func(i int) ([]string, []mark) {
			pr := rows[i]
			return []string{pr.partner, pr.mx, pr.dnssec, pr.dane, pr.mtasts, pr.tlsrpt, pr.types}, nil
		})
	d.more(t.policiesN-len(rows), "target", "the "+SheetPolicies+" sheet of "+FileXLSX)
}
