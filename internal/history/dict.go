package history

// codecDeflateDict1 marks a stored document as raw DEFLATE with dictDeflate1
// as preset dictionary: small JSON documents compress to about half with
// it. The dictionary is part of the file format: never edit it; add a new
// codec with a new dictionary instead.
const codecDeflateDict1 byte = 1

// dictDeflate1 was generated once from the remedies, the verdict names and
// a typical result body of mxaudit's first schema.
var dictDeflate1 = []byte(
	"Check the host name in the inventory and the partner's MX records; ask the partner whether" +
		" its mail host moved.Check that the partner's mail host and port are right and that your f" +
		"irewall allows outbound SMTP to it; ask the partner whether the host is still in service.C" +
		"heck outbound connectivity to the partner (firewall, routing); ask the partner whether its" +
		" server or an intermediate filter is overloaded or drops your address.Ask the partner to c" +
		"heck its SMTP server or the device in front of it (a proxy or firewall that rewrites SMTP " +
		"breaks STARTTLS).Ask the partner to enable STARTTLS on its receive connector; until then m" +
		"ail to it goes in clear text, or is queued if TLS is enforced.Ask the partner to fix its T" +
		"LS configuration (certificate bound to the receive connector, TLS enabled); mail to an enf" +
		"orced partner is queued meanwhile.Ask the partner to check its certificate and TLS setting" +
		"s (protocol versions, cipher suites, private key access); compare with openssl s_client -s" +
		"tarttls smtp.Ask the partner to install a new certificate at once; the current one was rev" +
		"oked by its CA.Ask the partner to renew its certificate (or the expired intermediate); if " +
		"it is your imported private root that expired, import the partner's new root.Check your cl" +
		"ock; otherwise ask the partner to install a certificate that is already valid.Ask the part" +
		"ner for a certificate from a public CA; if you must accept it, import its certificate into" +
		" the Trusted Root Certification Authorities store.Import the partner's root CA certificate" +
		" into the Trusted Root Certification Authorities store (and keep it in --private-roots), o" +
		"r ask the partner for a publicly trusted certificate.Ask the partner to send its intermedi" +
		"ate CA certificate with its own; as a stopgap, import the intermediate into the Intermedia" +
		"te Certification Authorities store.Ask the partner to reissue its certificate from a prope" +
		"r CA; the chain it sends cannot be built (bad signature or an issuer that is not a CA).Ask" +
		" the partner for a certificate whose extended key usage includes Server Authentication.Ask" +
		" the partner for a certificate that names its mail host (subject alternative name), or cor" +
		"rect the host in the inventory.Ask the partner for a certificate that names its domain (Ex" +
		"change Domain Security needs the domain in the certificate); remove the domain from the en" +
		"forced-TLS list only as a temporary workaround.Confirm the change with the partner, then u" +
		"pdate the pin in the inventory and on the connector (TlsCertificateName <I>issuer<S>subjec" +
		"t).Ask the partner for a certificate signed with SHA-256 or better.Ask the partner for a c" +
		"ertificate with an RSA key of at least 2048 bits or an EC key of at least 256 bits.Check t" +
		"hat your servers reach the CRL and OCSP URLs of the partner's CA (proxy, firewall); ask th" +
		"e partner whether its CA publishes them.Run the audit again; it was interrupted before thi" +
		"s partner was probed.\"DNSError\":\"\"ConnectionRefused\":\"\"Timeout\":\"\"ProtocolError\":\"\"NoStart" +
		"TLS\":\"\"StartTLSRefused\":\"\"HandshakeFailed\":\"\"Revoked\":\"\"Expired\":\"\"NotYetValid\":\"\"SelfSign" +
		"ed\":\"\"UntrustedRoot\":\"\"PartialChain\":\"\"InvalidChain\":\"\"WrongUsage\":\"\"NameMismatch\":\"\"Domai" +
		"nMismatch\":\"\"IssuerChanged\":\"\"WeakSignature\":\"\"WeakKey\":\"\"RevocationOffline\":\"\"NotProbed\":" +
		"\"\"Valid\":\"\"revocation\":{\"method\":\"crl\",\"status\":\"good\",\"detail\":\"\",\"next_update\":\"2026-\"fi" +
		"ndings\":[{\"check\":\"\",\"severity\":\"warning\",\"message\":\"\",\"remedy\":\"\"}],\"error\":\"\"transcript\"" +
		":[\"S: 220  Microsoft ESMTP MAIL Service ready at \",\"C: EHLO \",\"S: 250-SIZE\",\"S: 250-PIPELI" +
		"NING\",\"S: 250-8BITMIME\",\"S: 250-ENHANCEDSTATUSCODES\",\"S: 250-STARTTLS\",\"S: 250 CHUNKING\",\"" +
		"C: STARTTLS\",\"S: 220 2.0.0 Ready to start TLS\",\"C: QUIT\",\"S: 221 2.0.0 Bye\"],\"handshake_er" +
		"ror\":\"{\"partner\":\"\",\"domain\":\"\",\"host\":\"\",\"address\":\"\",\"port\":0,\"tls\":\"\",\"enforced\":false," +
		"\"verdict\":\"Valid\",\"verdicts\":[\"Valid\"],\"remedy\":\"\",\"root\":{\"source\":\"system\",\"subject\":\"CN" +
		"=\"},\"chain\":[{\"subject\":\"\",\"issuer\":\"\",\"serial\":\"\",\"not_before\":\"0001-01-01T00:00:00Z\",\"no" +
		"t_after\":\"0001-01-01T00:00:00Z\",\"sha1\":\"\",\"sha256\":\"\",\"der\":null},{\"subject\":\"\",\"issuer\":\"" +
		"\",\"serial\":\"\",\"not_before\":\"0001-01-01T00:00:00Z\",\"not_after\":\"0001-01-01T00:00:00Z\",\"sha1" +
		"\":\"\",\"sha256\":\"\",\"der\":null}],\"tls_version\":\"TLS 1.3\",\"cipher\":\"TLS_AES_128_GCM_SHA256\",\"f" +
		"indings\":[],\"error\":\"\",\"duration_ms\":0,\"smtp\":{\"greeting\":[\"220 \"],\"ehlo\":[\"250-\",\"250-STA" +
		"RTTLS\",\"250 8BITMIME\"],\"starttls_offered\":true,\"remote_addr\":\":25\"},\"x_compact_chain\":[0,1" +
		"]}")
