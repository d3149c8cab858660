package discovery_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/discovery"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

// TestDriftFinding: a row's host against its domain's MX, as the partner's finding.
func TestDriftFinding(t *testing.T) {
	_, r := setup(t, fleet.DNSOptions{})
	ctx := context.Background()
	domain := func(d string) *discovery.Result { return discovery.Domain(ctx, r, d, 0, discovery.Options{}) }
	tests := []struct {
		name     string
		res      *discovery.Result
		host     string
		followed bool
		want     bool
		check    string
		severity audit.Severity
		says     string
	}{
		{name: "listed", res: domain("multi.test"), host: "mx2.provider.test"},
		{name: "an address is not compared", res: domain("multi.test"), host: "192.0.2.7"},
		{name: "moved away", res: domain("multi.test"), host: "mail.multi.test", want: true, check: discovery.CheckDrift, severity: audit.Error,
			says: "the inventory names mail.multi.test for multi.test, but mail to multi.test goes to its MX hosts mx1.provider.test, mx2.provider.test, backup.multi.test"},
		{name: "moved away, followed", res: domain("multi.test"), host: "mail.multi.test", followed: true, want: true, check: discovery.CheckDrift, severity: audit.Warning,
			says: "those are audited too (--follow-mx)"},
		{name: "implicit MX", res: domain("implicit.test"), host: "mx.implicit.test", want: true, check: discovery.CheckDrift, severity: audit.Error,
			says: "its implicit MX (it has no MX record) implicit.test"},
		{name: "null MX", res: domain("null.test"), host: "mx.null.test", want: true, check: discovery.CheckDrift, severity: audit.Error,
			says: "null.test publishes a null MX"},
		{name: "MX lookup failed", res: domain("nosuch.test"), host: "mx.nosuch.test", want: true, check: discovery.CheckDrift, severity: audit.Info,
			says: "could not check that mx.nosuch.test receives the mail of nosuch.test: DNS MX lookup of nosuch.test: NXDOMAIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := discovery.DriftFinding(tt.res, tt.host, tt.followed)
			if ok != tt.want {
				t.Fatalf("finding %v %+v, want %v", ok, f, tt.want)
			}
			if !ok {
				return
			}
			af, ok := f.Audit()
			if !ok || af.Check != tt.check || af.Severity != tt.severity || !strings.Contains(af.Message, tt.says) || af.Remedy == "" {
				t.Errorf("finding %+v, want %s at %s saying %q", af, tt.check, tt.severity, tt.says)
			}
		})
	}
}

// TestFindingRules: every kind has its severity and remedy in one place;
// MX findings are the partner's, an unreachable family is the run's.
func TestFindingRules(t *testing.T) {
	tests := []struct {
		kind     discovery.FindingKind
		severity audit.Severity
		check    string
		partner  bool
	}{
		{discovery.Unresolved, audit.Warning, discovery.CheckMX, true},
		{discovery.NoAddress, audit.Warning, discovery.CheckMX, true},
		{discovery.Alias, audit.Warning, discovery.CheckMX, true},
		{discovery.IPLiteral, audit.Warning, discovery.CheckMX, true},
		{discovery.NullMixed, audit.Warning, discovery.CheckMX, true},
		{discovery.TooMany, audit.Info, discovery.CheckMX, true},
		{discovery.Drifted, audit.Error, discovery.CheckDrift, true},
		{discovery.Unreachable, audit.Info, "", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			af, ok := discovery.Finding{Kind: tt.kind, Message: "m"}.Audit()
			if ok != tt.partner {
				t.Fatalf("partner finding %v, want %v", ok, tt.partner)
			}
			if ok && (af.Severity != tt.severity || af.Check != tt.check || af.Remedy == "") {
				t.Errorf("%+v, want %s %s with a remedy", af, tt.check, tt.severity)
			}
		})
	}
}
