package builtin

import (
	"context"
	"fmt"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// weakCipherCheck flags a negotiated cipher suite that is broken (RC4, DES,
// 3DES, NULL, EXPORT, anonymous) or has no forward secrecy (RSA key exchange).
type weakCipherCheck struct{}

func (*weakCipherCheck) Info() sdk.Info {
	return sdk.Info{
		Name:        "weak-cipher",
		Version:     Version,
		Description: "the negotiated cipher suite is broken (RC4, DES, 3DES, NULL, EXPORT, anon: error) or lacks forward secrecy (RSA key exchange: warning)",
		Severity:    audit.Error,
		Citation:    "RFC 7465 (RC4), SWEET32 (CVE-2016-2183), RFC 9325 4.1",
		Maintainer:  maintainer,
	}
}

func (*weakCipherCheck) Configure(sdk.Config) error { return nil }

// cipherWeakness says what is wrong with an IANA cipher suite name, and how badly.
func cipherWeakness(name string) (audit.Severity, string) {
	n := strings.ToUpper(name)
	for _, bad := range []string{"_RC4_", "_DES_", "_3DES_", "_NULL_", "EXPORT", "_ANON_", "_MD5"} {
		if strings.Contains(n, bad) {
			return audit.Error, "uses " + strings.Trim(bad, "_")
		}
	}
	if strings.HasPrefix(n, "TLS_RSA_WITH_") {
		return audit.Warning, "uses RSA key exchange (no forward secrecy)"
	}
	return "", ""
}

func (*weakCipherCheck) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	for i := range b.Results {
		perTarget(b, out, i, func(r *audit.Result) []finding {
			sev, why := cipherWeakness(r.Cipher)
			if r.Cipher == "" || sev == "" {
				return nil
			}
			return []finding{{sev, fmt.Sprintf("the server chose %s, which %s", r.Cipher, why),
				"Ask the partner to prefer ECDHE suites with AES-GCM or ChaCha20-Poly1305 and to disable RC4, DES/3DES, NULL, EXPORT and static-RSA suites."}}
		})
	}
	return nil
}
