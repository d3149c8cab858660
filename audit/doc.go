// Package audit holds the results model shared by every stage of mxaudit:
// the inventory's Partner, the per-partner Result with its verdicts, chain
// and findings, and the Results document written as results.json.
//
// The stages live in sub-packages named for what they do: inventory reads
// the partner CSV, trust loads root stores, probe talks SMTP and TLS,
// verify names what is wrong with a chain, run drives them concurrently,
// and fleet simulates partners for tests and the demo.
package audit
