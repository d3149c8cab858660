package builtin

import (
	"context"
	"fmt"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// enforcedCheck flags partners on the enforced-TLS list whose mail would be
// queued: the chain is not Valid, or STARTTLS is not offered.
type enforcedCheck struct{}

func (*enforcedCheck) Info() sdk.Info {
	return sdk.Info{
		Name:        "enforced",
		Version:     Version,
		Description: "an enforced-TLS partner that is not Valid or offers no STARTTLS (mail to it is queued)",
		Severity:    audit.Critical,
		Citation:    "Exchange Domain Security / TLSSendDomainSecureList; RFC 3207",
		Source:      source,
	}
}

func (*enforcedCheck) Configure(sdk.Config) error { return nil }

func (*enforcedCheck) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	for i := range b.Results {
		r := &b.Results[i]
		if !r.Enforced || r.Verdict == audit.NotProbed {
			continue
		}
		noStartTLS := r.TLS == audit.StartTLS && !r.SMTP.StartTLS && len(r.SMTP.EHLO) > 0
		switch {
		case noStartTLS:
			out.Partner(i, audit.Critical,
				"TLS is enforced for this partner but its server does not offer STARTTLS: mail to it is queued",
				audit.NoStartTLS.Remedy())
		case r.Verdict != audit.Valid && r.Verdict != "":
			out.Partner(i, audit.Critical,
				fmt.Sprintf("TLS is enforced for this partner but its TLS is %s: mail to it is queued", r.Verdict),
				r.Verdict.Remedy())
		}
	}
	return nil
}
