package mailing

import (
	"net"

	"github.com/mxaudit/mxaudit/audit"
)

// targetRows turns the results of one partner into the rows a message
// tells of: one per target (MX address), each as the result of that
// target alone (audit.TargetResult.View), the partner's findings on the
// first; a result without targets (schema 1, or a DNS failure) is its own
// row. A host with several addresses is named with the address
// ("mx.example [2001:db8::1]"), so each line of the message says which.
func targetRows(results []*audit.Result) []*audit.Result {
	var out []*audit.Result
	first := true
	for _, r := range results {
		if len(r.Targets) == 0 {
			out = append(out, r)
			first = false
			continue
		}
		perMX := map[string]int{}
		for _, t := range r.Targets {
			perMX[t.MX]++
		}
		for i := range r.Targets {
			t := &r.Targets[i]
			v := t.View(r)
			if !first {
				v.Findings = nil
			}
			first = false
			if ip := addressOnly(t.Address); perMX[t.MX] > 1 && ip != "" {
				v.Host = t.MX + " [" + ip + "]"
			}
			out = append(out, &v)
		}
	}
	return out
}

func addressOnly(a string) string {
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}
