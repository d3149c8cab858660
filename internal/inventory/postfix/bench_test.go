package postfix_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/internal/inventory/postfix"
)

// BenchmarkReadPolicyMap10k reads a policy map of 10,000 entries (a large
// organisation's, or an MTA-STS/DANE export): well under 100 ms.
func BenchmarkReadPolicyMap10k(b *testing.B) {
	var sb strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&sb, "# partner %d\npartner%d.example secure\n    match=nexthop:dot-nexthop:.mail.protection.outlook.com\n    tafile=/etc/postfix/ta/p%d.pem protocols=>=TLSv1.2\n", i, i, i)
	}
	data := sb.String()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		m, errs, err := postfix.ReadPolicyMap(strings.NewReader(data), "tls_policy")
		if err != nil || len(errs) > 0 || len(m.Entries) != 10000 {
			b.Fatal(err, errs)
		}
	}
}
