// Command mxaudit-check-allowed-ca is an example check plugin: it reports
// partners whose certificate was not issued by one of the CAs the config
// file allows. Build it into a plugins directory:
//
//	go build -o plugins.d/mxaudit-check-allowed-ca ./plugins/examples/allowed-ca
//
// and configure it:
//
//	[checks.allowed-ca]
//	issuers  = ["CN=R11, O=Let's Encrypt, C=US", "CN=Example Issuing CA 1,O=Example"]
//	severity = "error"
package main

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/audit/dn"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

func main() { sdk.Serve(&allowedCA{}) }

// allowedCA checks the leaf's issuer against a list of distinguished names.
type allowedCA struct {
	issuers  []dn.Name
	names    []string
	severity audit.Severity
}

func (*allowedCA) Info() sdk.Info {
	return sdk.Info{
		Name:        "allowed-ca",
		Version:     "1.0.0",
		Description: "the partner's certificate is issued by a CA of the allowed list (issuers)",
		Severity:    audit.Error,
		Citation:    "your organisation's certificate policy",
		Maintainer:  "mxaudit examples",
		Config: []sdk.ConfigKey{
			{Name: "issuers", Description: "distinguished names of the allowed issuing CAs (Windows, Go or OpenSSL spelling)"},
			{Name: "severity", Description: "severity of a finding: info, warning, error or critical", Default: "error"},
		},
	}
}

func (c *allowedCA) Configure(cfg sdk.Config) error {
	sev, err := audit.ParseSeverity(cfg.String("severity", "error"))
	if err != nil {
		return fmt.Errorf("severity: %w", err)
	}
	c.severity = sev
	for _, s := range cfg.Strings("issuers") {
		n, err := dn.Parse(s)
		if err != nil {
			return fmt.Errorf("issuers: %w", err)
		}
		c.issuers = append(c.issuers, n)
		c.names = append(c.names, s)
	}
	if len(c.issuers) == 0 {
		// Stderr goes to mxaudit's log.
		log.Print("allowed-ca: no issuers configured ([checks.allowed-ca] issuers = [...]); the check reports nothing")
	}
	return nil
}

func (c *allowedCA) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	if len(c.issuers) == 0 {
		return nil
	}
	for i := range b.Results {
		leaf, err := b.Leaf(i)
		if err != nil {
			return fmt.Errorf("partner %s: %w", b.Results[i].Name, err)
		}
		if leaf == nil {
			continue // nothing presented; the verdict check reports that
		}
		got := dn.FromPKIX(leaf.Issuer)
		allowed := false
		for _, want := range c.issuers {
			if dn.Match(want, got) {
				allowed = true
				break
			}
		}
		if !allowed {
			out.Partner(i, c.severity,
				fmt.Sprintf("certificate issued by %s, which is not an allowed CA (%s)", dn.Windows(leaf.Issuer), strings.Join(c.names, "; ")),
				"Ask the partner for a certificate from an allowed CA, or add its CA to [checks.allowed-ca] issuers after review.")
		}
	}
	return nil
}
