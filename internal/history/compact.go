package history

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
)

// storedBody is the JSON stored in the bodies table: a Result without its
// partner, DER, duration and timings, chain certificates that audit.NewCert
// rebuilds exactly from their DER reduced to their SHA-256.
type storedBody struct {
	audit.Result
	CompactChain []int `json:"x_compact_chain,omitempty"` // indexes in Chain holding only SHA256
	// CompactTargets holds, for each target, the indexes of its Chain
	// holding only SHA256; the targets' durations and timings are in the targets table.
	CompactTargets [][]int `json:"x_compact_targets,omitempty"`
}

// compactable reports whether c is exactly what audit.NewCert makes of its DER,
// so storing the DER (in certs) is enough.
func compactable(c *audit.Cert) bool {
	if len(c.DER) == 0 {
		return false
	}
	x, err := x509.ParseCertificate(c.DER)
	if err != nil {
		return false
	}
	return reflect.DeepEqual(audit.NewCert(x), *c)
}

// expandCert rebuilds a compacted chain certificate from its DER.
func expandCert(der []byte) (audit.Cert, error) {
	x, err := x509.ParseCertificate(der)
	if err != nil {
		return audit.Cert{}, err
	}
	return audit.NewCert(x), nil
}

// timingPhases are the probe phases in the order a compact timings string lists them.
var timingPhases = []string{"connect", "greeting", "ehlo", "starttls", "handshake", "ehlo_tls"}

// encodeTimings writes SMTP.TimingsMS as comma-separated milliseconds in
// timingPhases order (empty for a missing phase), or as JSON when it holds
// another phase.
func encodeTimings(m map[string]int64) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	parts := make([]string, len(timingPhases))
	n := 0
	for i, p := range timingPhases {
		if v, ok := m[p]; ok {
			parts[i] = strconv.FormatInt(v, 10)
			n++
		}
	}
	if n != len(m) {
		b, err := json.Marshal(m)
		return string(b), err
	}
	return strings.TrimRight(strings.Join(parts, ","), ","), nil
}

// decodeTimings reverses encodeTimings.
func decodeTimings(s string) (map[string]int64, error) {
	if s == "" {
		return nil, nil
	}
	m := map[string]int64{}
	if strings.HasPrefix(s, "{") {
		err := json.Unmarshal([]byte(s), &m)
		return m, err
	}
	for i, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		if i >= len(timingPhases) {
			return nil, fmt.Errorf("timings %q: too many fields", s)
		}
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("timings %q: %w", s, err)
		}
		m[timingPhases[i]] = v
	}
	return m, nil
}
