package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// recordTypeHandshake is the first byte of a TLS handshake record.
const recordTypeHandshake = 0x16

// keyType is a server key type and the TLS 1.2 suites that make a server
// present a certificate of that type.
type keyType struct {
	name   string // as audit.KeyInfo names it
	suites []uint16
}

// keyTypes are the key types a mail server may hold certificates for at
// once (Postfix smtpd_tls_chain_files, Exim tls_certificate lists).
// Go's TLS 1.3 client offers a fixed list of signature algorithms, so the
// other certificate is asked for with TLS 1.2 and only its suites, which
// leave the server no other choice (checked against Postfix 3.7 with
// smtpd_tls_chain_files holding both, and against openssl s_server).
var keyTypes = []keyType{
	{name: "RSA", suites: suitesWith("TLS_ECDHE_RSA_", "TLS_RSA_")},
	{name: "ECDSA", suites: suitesWith("TLS_ECDHE_ECDSA_")},
}

func suitesWith(prefixes ...string) []uint16 {
	var ids []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if !slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(s.Name, p) {
				ids = append(ids, s.ID)
			}
		}
	}
	return ids
}

// otherKeyTypes looks, in one extra handshake each on a new connection, for
// a certificate of each key type the first handshake did not get. A server
// without one refuses the handshake at once (no shared cipher suite); that
// costs a round trip, not a verdict.
func (s *session) otherKeyTypes(ctx context.Context, addr string) {
	seen, _ := audit.KeyInfo(s.obs.Chain[0])
	for i := range keyTypes {
		kt := &keyTypes[i]
		if kt.name == seen || ctx.Err() != nil {
			continue
		}
		start := time.Now()
		x := newSession(s.opts, s.target, addr, start)
		x.only = kt
		x.run(ctx, addr)
		took := fmt.Sprintf("extra handshake (%d ms): ", time.Since(start).Milliseconds())
		switch {
		case len(x.obs.Chain) > 0 && (x.obs.Err == nil || x.obs.Err.Verdict == audit.ClientCertificateRequired):
			if got, _ := audit.KeyInfo(x.obs.Chain[0]); got != kt.name {
				s.log("-- ", took+"asked for an "+kt.name+" certificate, got "+got)
				continue
			}
			s.obs.Others = append(s.obs.Others, KeyChain{KeyType: kt.name, TLSVersion: x.obs.TLSVersion,
				Cipher: x.obs.Cipher, Chain: x.obs.Chain, OCSPStaple: x.obs.OCSPStaple})
			s.log("-- ", took+"the server also holds an "+kt.name+" certificate: "+x.obs.Chain[0].Subject.String())
		case x.obs.Err != nil:
			s.log("-- ", took+"no "+kt.name+" certificate ("+x.obs.Err.Error()+")")
		}
	}
}

// KeyTypeOf returns the key type of a chain's leaf ("RSA", "ECDSA", ...), or "".
func KeyTypeOf(chain []*x509.Certificate) string {
	if len(chain) == 0 {
		return ""
	}
	k, _ := audit.KeyInfo(chain[0])
	return k
}
