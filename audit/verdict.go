package audit

// Verdict names what is wrong with a partner's TLS, as Windows/Exchange admins know it.
type Verdict string

// Verdicts, most severe first: Order lists them in this order and a
// partner's primary verdict is the first of its verdicts in Order.
//
// The first group means no certificate could be seen at all; the second
// means mail to an enforced partner fails; the last ones are warnings.
const (
	DNSError          Verdict = "DNSError"          // the domain's MX or the host name does not resolve
	ConnectionRefused Verdict = "ConnectionRefused" // nothing listens on the port
	Timeout           Verdict = "Timeout"           // the server did not answer within the deadline
	ProtocolError     Verdict = "ProtocolError"     // the server broke SMTP (bad greeting, endless reply, garbage)
	NoStartTLS        Verdict = "NoStartTLS"        // EHLO does not offer STARTTLS
	StartTLSRefused   Verdict = "StartTLSRefused"   // STARTTLS offered but answered with an error
	HandshakeFailed   Verdict = "HandshakeFailed"   // the TLS handshake failed
	Revoked           Verdict = "Revoked"           // a certificate of the chain is revoked
	Expired           Verdict = "Expired"           // a certificate of the chain is past its NotAfter
	NotYetValid       Verdict = "NotYetValid"       // a certificate of the chain is before its NotBefore
	SelfSigned        Verdict = "SelfSigned"        // the leaf is self-signed
	UntrustedRoot     Verdict = "UntrustedRoot"     // the chain is complete but its root is not trusted
	PartialChain      Verdict = "PartialChain"      // the chain stops at a certificate whose issuer is neither sent nor trusted (see its cases)
	InvalidChain      Verdict = "InvalidChain"      // the chain is broken otherwise (bad signature, issuer not a CA, ...)
	WrongUsage        Verdict = "WrongUsage"        // the leaf's extended key usage excludes serverAuth
	NameMismatch      Verdict = "NameMismatch"      // the leaf does not name the host
	DomainMismatch    Verdict = "DomainMismatch"    // an enforced partner's leaf names neither its domain nor a name under it
	IssuerChanged     Verdict = "IssuerChanged"     // issuer or subject differs from the inventory's pin
	WeakSignature     Verdict = "WeakSignature"     // a certificate is signed with SHA-1 or MD5
	WeakKey           Verdict = "WeakKey"           // a key shorter than Thresholds allow (RSA 2048, EC 256 bits by default)
	RevocationOffline Verdict = "RevocationOffline" // no revocation responder answered
	NotProbed         Verdict = "NotProbed"         // the run was interrupted before this partner was probed
	Valid             Verdict = "Valid"             // nothing wrong
)

// ClientCertificateRequired is a server that asks for a client certificate
// (mutual TLS) and ends the session without one, or refuses ours; it ranks
// between StartTLSRefused and HandshakeFailed.
const ClientCertificateRequired Verdict = "ClientCertificateRequired"

// NullMX is a partner domain whose only MX is the null MX ("0 .", RFC
// 7505): it takes no mail, so nothing is probed; it ranks right after DNSError.
const NullMX Verdict = "NullMX"

// Order lists every verdict, most severe first.
var Order = []Verdict{
	DNSError, NullMX, ConnectionRefused, Timeout, ProtocolError, NoStartTLS, StartTLSRefused,
	ClientCertificateRequired, HandshakeFailed, DnssecBogus, DaneRequiredNoTLS, TlsaMismatch,
	Revoked, Expired, NotYetValid, SelfSigned, UntrustedRoot, PartialChain,
	InvalidChain, WrongUsage, NameMismatch, DomainMismatch,
	StsPolicyFetchError, StsWebPkiInvalid, StsPolicyInvalid, StsMxMismatch, StsCertificateNotTrusted,
	IssuerChanged, WeakSignature,
	WeakKey, RevocationOffline, NotProbed, Valid,
}

var rank = func() map[Verdict]int {
	m := make(map[Verdict]int, len(Order))
	for i, v := range Order {
		m[v] = i
	}
	return m
}()

// Rank returns v's position in Order (lower is more severe); unknown verdicts rank last.
func (v Verdict) Rank() int {
	if r, ok := rank[v]; ok {
		return r
	}
	return len(Order)
}

// Known reports whether v is one of the verdicts in Order.
func (v Verdict) Known() bool { _, ok := rank[v]; return ok }

// Primary returns the most severe of vs by Order, or Valid when vs is empty.
func Primary(vs []Verdict) Verdict {
	best := Valid
	for _, v := range vs {
		if v.Rank() < best.Rank() {
			best = v
		}
	}
	return best
}

// Severity returns the severity of v for a partner that is (or is not) on
// the enforced-TLS list, when the root its chain ends in is not known; see
// SeverityUnder.
func (v Verdict) Severity(enforced bool) Severity { return v.SeverityUnder(enforced, "") }

// SeverityUnder returns the severity of v for a partner that is (or is not)
// on the enforced-TLS list and whose chain ends in a root of rootSource
// (RootSystem, RootPrivate, RootNone, or "" when unknown).
//
// For an enforced partner every failing verdict is critical, because mail
// to it stops (RevocationOffline too: Domain Security needs the CRLs), and
// WeakKey, WeakSignature and IssuerChanged, which do not stop it, are
// errors; otherwise mail still flows in clear text or unverified TLS and
// the verdict is an error or a warning. WeakSignature fails under a
// public root (Windows refuses SHA-1 in server chains that end in a root
// of the Microsoft Trusted Root Program, and so does Go) but is a warning
// under an imported private root, which Windows exempts.
func (v Verdict) SeverityUnder(enforced bool, rootSource string) Severity {
	switch {
	case v == WeakSignature && rootSource == RootSystem:
		if enforced {
			return Critical
		}
		return Error
	case v == WeakSignature && rootSource == RootPrivate:
		return Warning
	}
	switch v {
	case Valid:
		return Info
	case NotProbed:
		return Warning
	case RevocationOffline:
		// Exchange Domain Security needs the partner's CRLs: an enforced
		// partner's mail is queued while no responder answers.
		if enforced {
			return Critical
		}
		return Warning
	case WeakKey, WeakSignature, IssuerChanged:
		if enforced {
			return Error
		}
		return Warning
	}
	if enforced {
		return Critical
	}
	return Error
}

// Remedy returns what the admin runbooks say to do about v.
func (v Verdict) Remedy() string { return remedies[v] }

var remedies = map[Verdict]string{
	DNSError:          "Check the host name in the inventory and the partner's MX records; ask the partner whether its mail host moved.",
	ConnectionRefused: "Check that the partner's mail host and port are right and that your firewall allows outbound SMTP to it; ask the partner whether the host is still in service.",
	Timeout:           "Check outbound connectivity to the partner (firewall, routing); ask the partner whether its server or an intermediate filter is overloaded or drops your address.",
	ProtocolError:     "Ask the partner to check its SMTP server or the device in front of it (a proxy or firewall that rewrites SMTP breaks STARTTLS).",
	NoStartTLS:        "Ask the partner to enable STARTTLS on its receive connector; until then mail to it goes in clear text, or is queued if TLS is enforced.",
	StartTLSRefused:   "Ask the partner to fix its TLS configuration (certificate bound to the receive connector, TLS enabled); mail to an enforced partner is queued meanwhile.",
	HandshakeFailed:   "Ask the partner to check its certificate and TLS settings (protocol versions, cipher suites, private key access); compare with openssl s_client -starttls smtp.",
	Revoked:           "Ask the partner to install a new certificate at once; the current one was revoked by its CA.",
	Expired:           "Ask the partner to renew its certificate (or the expired intermediate); if it is your imported private root that expired, import the partner's new root.",
	NotYetValid:       "Check your clock; otherwise ask the partner to install a certificate that is already valid.",
	SelfSigned:        "Ask the partner for a certificate from a public CA; if you must accept it, import its certificate into the Trusted Root Certification Authorities store.",
	UntrustedRoot:     "Import the partner's root CA certificate into the Trusted Root Certification Authorities store (and keep it in --private-roots), or ask the partner for a publicly trusted certificate.",
	PartialChain:      "If the partner's server sends only its own certificate, ask the partner to send its intermediate CA certificate with it (as a stopgap, import the intermediate into the Intermediate Certification Authorities store); if it already sends its intermediate, the missing certificate is the partner's root CA: obtain it from the partner and import it into the Trusted Root Certification Authorities store, or ask for a certificate from a public CA.",
	InvalidChain:      "Ask the partner to reissue its certificate from a proper CA; the chain it sends cannot be built (bad signature or an issuer that is not a CA).",
	WrongUsage:        "Ask the partner for a certificate whose extended key usage includes Server Authentication.",
	NameMismatch:      "Ask the partner for a certificate that names its mail host (subject alternative name), or correct the host in the inventory.",
	DomainMismatch:    "Ask the partner for a certificate that names its domain (Exchange Domain Security needs the domain in the certificate); remove the domain from the enforced-TLS list only as a temporary workaround.",
	IssuerChanged:     "Confirm the change with the partner by a channel other than mail, then update the pin (expected_issuer, expected_subject) in the inventory. What Exchange itself pins of a partner is a domain, not an issuer: a send connector with TlsAuthLevel DomainValidation, or an Exchange Online outbound connector with TlsSettings DomainValidation, checks that the certificate names its TlsDomain; make sure the new certificate still does. (A connector's TlsCertificateName names your own certificate, not the partner's: leave it alone.)",
	WeakSignature:     "Ask the partner for a certificate (and intermediate) signed with SHA-256 or better; under a public root Windows and Go already refuse the chain, under your imported private root Windows still accepts it but Go- and OpenSSL 3-based senders do not.",
	WeakKey:           "Ask the partner for a certificate with a longer key, of at least the minimum the detail names (the [thresholds] min_rsa_bits for RSA, min_ec_bits for EC).",
	RevocationOffline: "Check that your servers reach the CRL and OCSP URLs of the partner's CA (proxy, firewall); ask the partner whether its CA publishes them.",
	NotProbed:         "Run the audit again; it was interrupted before this partner was probed.",
	Valid:             "",

	NullMX: "The domain publishes a null MX (RFC 7505): it accepts no mail, and every message to it bounces at once. Ask the partner for its current mail domain and correct the inventory (and the send connector or transport map), or remove the partner.",

	ClientCertificateRequired: "The partner requires mutual TLS (Exchange Domain Security, Postfix smtpd_tls_req_ccert, Exim tls_verify_hosts): audit again with --client-cert and --client-key, the certificate your mail server presents; if the partner refuses that one, ask it to trust your certificate's CA, and make sure your send connector presents it.",
}

// PartnerRemedy returns what the partner itself should do about v: the
// wording for messages sent to partners, where Remedy speaks to our admins.
func (v Verdict) PartnerRemedy() string {
	if r, ok := partnerRemedies[v]; ok {
		return r
	}
	return remedies[v]
}

var partnerRemedies = map[Verdict]string{
	DNSError:          "Please check that the MX host name we have for you still resolves, or tell us your current mail host.",
	ConnectionRefused: "Please check that your mail server accepts SMTP connections on this port, or tell us your current mail host.",
	Timeout:           "Please check that your mail server (or the filter in front of it) answers SMTP connections from us.",
	ProtocolError:     "Please check your SMTP server or the device in front of it: a proxy or firewall that rewrites SMTP breaks STARTTLS.",
	NoStartTLS:        "Please enable STARTTLS on your receiving mail server; we require TLS for mail to you.",
	StartTLSRefused:   "Please check the TLS configuration of your receiving mail server (certificate bound to the receive connector, TLS enabled).",
	HandshakeFailed:   "Please check the certificate and TLS settings of your mail server (protocol versions, cipher suites, private key access).",
	Revoked:           "Please install a new certificate: your CA has revoked the current one.",
	Expired:           "Please renew your certificate (or the expired intermediate CA certificate your server sends).",
	NotYetValid:       "Please check your server's certificate: it is not valid yet.",
	SelfSigned:        "Please use a certificate from a public certification authority, or send us your certificate so that we can import it.",
	UntrustedRoot:     "Your certificate chains to a root CA that we do not trust: please use a certificate from a public certification authority, or send us your root CA certificate.",
	PartialChain:      "We cannot build your certificate chain to a root CA we trust: please send your intermediate CA certificate together with your own certificate, and if you already do, send us your root CA certificate or use a certificate from a public certification authority.",
	InvalidChain:      "Please have your certificate reissued: the chain your server sends cannot be built (bad signature or an issuer that is not a CA).",
	WrongUsage:        "Please use a certificate whose extended key usage includes Server Authentication.",
	NameMismatch:      "Please use a certificate that names your mail host in its subject alternative names.",
	DomainMismatch:    "Please use a certificate that names your mail domain too: we verify the domain, not only the host name.",
	IssuerChanged:     "Your certificate now comes from a different CA than the one we expected; please confirm the change to us so that we can update our configuration.",
	WeakSignature:     "Please use a certificate signed with SHA-256 or better.",
	WeakKey:           "Please use a certificate with a longer key: the key named above is shorter than we accept.",
	RevocationOffline: "Please check that your CA's CRL and OCSP URLs are reachable from the internet.",

	NullMX: "Your domain publishes a null MX record (RFC 7505), which says it accepts no mail: please tell us the domain you receive mail for, or remove the null MX record if the domain should receive mail.",

	ClientCertificateRequired: "Your mail server requires a client certificate from us (mutual TLS); please tell us which certification authorities it accepts, or import the root CA of the certificate we send.",
}
