package audit

// ValidWithFindings is how a partner is counted whose verdict is Valid but
// that carries a check finding at warning or above (a certificate expiring
// soon, an old TLS version, an imported root expiring): its chain
// verifies, and still something is to be done.
const ValidWithFindings = "Valid with findings"

// Standing returns what r is counted as beside the other partners: its
// primary verdict, or ValidWithFindings for a Valid partner whose worst
// severity is warning or above. Counting partners by Standing agrees with
// counting them by WorstSeverity: "Valid" is exactly the partners at info.
func (r *Result) Standing() string {
	if r.Verdict == Valid && r.WorstSeverity().Level() >= Warning.Level() {
		return ValidWithFindings
	}
	return string(r.Verdict)
}
