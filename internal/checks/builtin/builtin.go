// Package builtin holds the checks that ship with mxaudit, one per file
// with its metadata (name, severity, citation, settings). The mxaudit
// binary serves them over the check protocol (`mxaudit plugin serve`), so
// they run exactly as third-party checks do.
//
// A check says only what the verdicts do not: the verdicts (verify) name
// what is wrong with a chain, with one severity and one remedy each, and
// the reports group by them; a check adds expiry soon, TLS version,
// cipher, the private roots' lifecycle and how Windows completes a
// PartialChain. Every number a check grades by is the run's
// audit.Thresholds (sdk.Batch.Thresholds), the same the verdicts and the
// root statuses use. A check of what a server presents looks at every
// target of a partner (each MX address), not only at its worst, and says
// which address a finding concerns (perTarget).
package builtin

import (
	"fmt"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// Version is the version of the built-in checks: 2 states only what the
// verdicts do not (see the package comment) and grades by the run's
// thresholds; 2.1 looks at every target of a partner.
const Version = "2.1.0"

// maintainer is the Maintainer of every built-in check.
const maintainer = "mxaudit"

// Checks returns a fresh, unconfigured instance of every built-in check, in the order they run.
func Checks() []sdk.Check {
	return []sdk.Check{
		&expiryCheck{},
		&tlsVersionCheck{},
		&weakCipherCheck{},
		&aiaCheck{},
		&privateRootCheck{},
	}
}

// Serve serves the built-in checks as a go-plugin check plugin; `mxaudit plugin serve` calls it.
func Serve() { sdk.Serve(Checks()...) }

// certRole names a chain position for messages: "leaf", "intermediate 1", ...
func certRole(i int) string {
	if i == 0 {
		return "leaf"
	}
	return fmt.Sprintf("intermediate %d", i)
}

// sentRoot reports whether chain position i holds a self-signed CA the
// server sent along; clients ignore it, so its dates and signature do not matter.
func sentRoot(c *audit.Cert, i int) bool { return i > 0 && c.Subject == c.Issuer }

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }
