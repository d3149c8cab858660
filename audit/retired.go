package audit

// RetiredChecks are the built-in checks of earlier versions whose facts
// are verdicts now, each with what states them today. A results.json
// written before thresholds were recorded (Results.Thresholds nil) may hold
// their findings: they restate a verdict and are not shown again.
var RetiredChecks = map[string]string{
	"verdict":        "the partner's verdicts themselves",
	"enforced":       "the verdicts' severity (critical for a partner on the enforced-TLS list)",
	"weak-key":       "the WeakKey verdict ([thresholds] min_rsa_bits, min_ec_bits)",
	"weak-signature": "the WeakSignature verdict",
	"pin":            "the IssuerChanged verdict",
}

// Restates reports whether finding f of a run only restates one of the
// run's verdicts: a finding of a retired check in a results.json written
// before thresholds were recorded.
func (r *Results) Restates(f Finding) bool {
	_, retired := RetiredChecks[f.Check]
	return retired && r.Thresholds == nil
}
