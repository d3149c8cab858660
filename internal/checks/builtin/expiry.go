package builtin

import (
	"context"
	"fmt"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// expiryCheck warns before a certificate of the chain expires and reports expired ones.
type expiryCheck struct {
	warningDays, errorDays int
}

func (*expiryCheck) Info() sdk.Info {
	return sdk.Info{
		Name:        "expiry",
		Version:     Version,
		Description: "certificates of the chain expiring within warning_days (warning) or error_days (error) of the run, or expired (error; critical when enforced)",
		Severity:    audit.Critical,
		Citation:    "RFC 5280 4.1.2.5 (validity); Exchange event CertificateExpired",
		Source:      source,
		Config: []sdk.ConfigKey{
			{Name: "warning_days", Description: "days before NotAfter from which expiry is a warning", Default: "30"},
			{Name: "error_days", Description: "days before NotAfter from which expiry is an error", Default: "7"},
		},
	}
}

func (c *expiryCheck) Configure(cfg sdk.Config) error {
	var err error
	if c.warningDays, err = cfg.Int("warning_days", 30); err != nil {
		return err
	}
	if c.errorDays, err = cfg.Int("error_days", 7); err != nil {
		return err
	}
	if c.errorDays < 0 || c.warningDays < c.errorDays {
		return fmt.Errorf("want 0 <= error_days (%d) <= warning_days (%d)", c.errorDays, c.warningDays)
	}
	return nil
}

func (c *expiryCheck) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	for i := range b.Results {
		r := &b.Results[i]
		for j := range r.Chain {
			cert := &r.Chain[j]
			if sentRoot(cert, j) || cert.NotAfter.IsZero() {
				continue
			}
			days := audit.DaysLeft(cert.NotAfter, b.Now)
			what := fmt.Sprintf("%s certificate %s", certRole(j), cert.Subject)
			switch {
			case !b.Now.Before(cert.NotAfter):
				sev := audit.Error
				if r.Enforced {
					sev = audit.Critical
				}
				out.Partner(i, sev, fmt.Sprintf("%s %s, on %s", what, audit.DaysText(cert.NotAfter, b.Now), day(cert.NotAfter)),
					audit.Expired.Remedy())
			case cert.NotAfter.Sub(b.Now) <= time.Duration(c.errorDays)*24*time.Hour:
				out.Partner(i, audit.Error, fmt.Sprintf("%s expires on %s (in %d days)", what, day(cert.NotAfter), days),
					"Ask the partner to renew its certificate now; mail to it fails once it expires.")
			case cert.NotAfter.Sub(b.Now) <= time.Duration(c.warningDays)*24*time.Hour:
				out.Partner(i, audit.Warning, fmt.Sprintf("%s expires on %s (in %d days)", what, day(cert.NotAfter), days),
					"Ask the partner to renew its certificate before it expires.")
			}
		}
	}
	return nil
}
