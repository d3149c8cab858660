package builtin

import (
	"fmt"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// finding is what a check says about one target, before it is told of the partner.
type finding struct {
	sev    audit.Severity
	msg    string
	remedy string
}

// perTarget reports, for partner i of b, what check says about each of its
// targets (every MX address, each as the result of that target alone:
// audit.TargetResult.View), or about the partner itself when it has none
// (a schema-1 result). The same finding on several targets is reported
// once: on some of them it names them ("mx2.example [192.0.2.5]:25: ..."),
// on all of them it says so ("all 2 addresses: ..."); a partner with one
// target is told as before targets existed.
func perTarget(b *sdk.Batch, out *sdk.Report, i int, check func(t *audit.Result) []finding) {
	r := &b.Results[i]
	if len(r.Targets) == 0 {
		for _, f := range check(r) {
			out.Partner(i, f.sev, f.msg, f.remedy)
		}
		return
	}
	var order []finding
	where := map[finding][]string{}
	for k := range r.Targets {
		t := &r.Targets[k]
		v := t.View(r)
		for _, f := range check(&v) {
			if _, ok := where[f]; !ok {
				order = append(order, f)
			}
			where[f] = append(where[f], t.String())
		}
	}
	for _, f := range order {
		msg := f.msg
		switch ts := where[f]; {
		case len(r.Targets) == 1:
		case len(ts) == len(r.Targets):
			msg = fmt.Sprintf("all %d addresses: %s", len(ts), msg)
		default:
			msg = strings.Join(ts, ", ") + ": " + msg
		}
		out.Partner(i, f.sev, msg, f.remedy)
	}
}
