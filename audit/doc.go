// Package audit holds the results model shared by every stage of mxaudit:
// the inventory's Partner, the per-partner Result with its verdicts, chain
// and findings, and the Results document written as results.json.
//
// It is also the one home of the rules every stage and report reads: the
// verdicts' order, severity and remedy; the Thresholds a run grades by
// (key sizes, expiry windows, a private root's expiring window); the
// private roots' Lifecycle; a port's default TLSMode; the change kinds.
// A problem is stated once: by its verdict, which the reports group by,
// and the checks' findings add only what no verdict says.
//
// The stages live in sub-packages named for what they do: inventory reads
// the partner CSV, trust loads root stores, probe talks SMTP and TLS,
// verify names what is wrong with a chain, run drives them concurrently,
// and fleet simulates partners for tests and the demo.
package audit
