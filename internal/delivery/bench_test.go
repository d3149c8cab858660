package delivery

import (
	"fmt"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
)

// BenchmarkDecide decides 1000 partners of two targets each under a Postfix
// policy map with a what-if, as a scan of a large policy map does after its probes.
func BenchmarkDecide(b *testing.B) {
	tg, verify := provider(b, false)
	m := &mtapolicy.MTA{Postfix: mtapolicy.DefaultPostfixConfig(), PolicyMap: &mtapolicy.PolicyMap{}, HasPostfix: true}
	base := audit.Results{}
	for i := range 1000 {
		d := fmt.Sprintf("partner%d.example", i)
		m.PolicyMap.Add(mtapolicy.PostfixPolicy{Key: d, Level: mtapolicy.Level(2 + i%6), Match: nil, File: "tls_policy", Line: i + 1})
		base.Partners = append(base.Partners, audit.Result{Partner: audit.Partner{Name: d, Domain: d, Port: 25}, Targets: []audit.TargetResult{tg, tg}})
	}
	secure := mtapolicy.LevelSecure
	b.ReportAllocs()
	for b.Loop() {
		res := base
		res.Partners = make([]audit.Result, len(base.Partners))
		for i := range base.Partners {
			res.Partners[i] = base.Partners[i]
			res.Partners[i].Targets = append([]audit.TargetResult(nil), base.Partners[i].Targets...)
		}
		Decide(&res, nil, Options{MTA: m, Verify: verify, WhatIfLevel: &secure, Now: now})
	}
}
