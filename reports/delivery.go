package reports

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
)

// DeliveryCheck names the finding that tells a partner which of our MTA's
// TLS policies its server fails (issue 14).
const DeliveryCheck = "our-tls-policy"

// PartnerDelivery returns, for a partner our MTA does not deliver to
// (deferred, bounces), a finding for the partner: which of our policies its
// server fails, our MTA's rule, and what the partner must change. False
// when mail flows or no MTA policy was evaluated. File names of our
// settings are left out: they are our side.
func PartnerDelivery(r *audit.Result) (audit.Finding, bool) {
	d := r.Delivery
	if d == nil || d.Outcome == audit.Undetermined || audit.Flows(d.Outcome) {
		return audit.Finding{}, false
	}
	level := strings.Fields(d.Policy + " ")[0]
	msg := fmt.Sprintf("Our mail server (%s, TLS policy %q) does not deliver to you: mail is %s. %s", d.MTA, ourPaths.ReplaceAllString(d.Policy, "${1}(our file)"), d.Outcome, ourPaths.ReplaceAllString(d.Rule, "${1}(our file)"))
	return audit.Finding{Check: DeliveryCheck, Severity: audit.Critical, Message: msg, Remedy: deliveryRemedy(d.MTA, level, r.Domain)}, true
}

// ourPaths are the paths of our own files in a rule (tafile=, smtp_tls_CAfile): our side, not the partner's.
var ourPaths = regexp.MustCompile(`(^|[\s=(])(?:[A-Za-z]:)?[/\\][^\s,;()"]+`)

// deliveryRemedy says what a partner must change to pass our policy at level.
func deliveryRemedy(mta, level, domain string) string {
	if domain == "" {
		domain = "your mail domain"
	}
	switch {
	case mta == "Postfix" && level == "secure":
		return fmt.Sprintf("Please use a certificate from a public certification authority (or the one we trust for you) that names %s or a name under it, and send its intermediate certificates with it.", domain)
	case mta == "Postfix" && level == "verify":
		return "Please use a certificate from a public certification authority (or the one we trust for you) that names the host name of your MX record, and send its intermediate certificates with it."
	case mta == "Postfix" && level == "fingerprint":
		return "Your certificate or key no longer matches the fingerprint we pinned: please send us the SHA-256 fingerprint of the new certificate, and tell us before you change it next time."
	case mta == "Postfix" && (level == "dane" || level == "dane-only"):
		return "Please publish TLSA records (DNSSEC-signed) that match the certificate your server presents, and publish the new key's record before you rotate it."
	case mta == "Postfix":
		return "Please offer STARTTLS on your mail server and accept TLS 1.2 or later."
	}
	return fmt.Sprintf("Please use a certificate from a public certification authority (or the one we trust for you) that names %s, whose revocation list (CRL) can be reached from the Internet, and offer STARTTLS with TLS 1.2 or later.", domain)
}
