package audit

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestResultsContract pins the results.json keys the contract names:
// present even when empty, and readable back.
func TestResultsContract(t *testing.T) {
	res := &Results{Schema: SchemaVersion, Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Partners: []Result{{Partner: Partner{Name: "P", Host: "mx.p.example", Port: 25, TLS: StartTLS},
			Verdict: DNSError, Verdicts: []Verdict{DNSError}, Root: Root{Store: RootNone}, Chain: []Cert{}, Findings: []Finding{}}},
		PrivateRoots: []PrivateRoot{}, InventoryErrors: []InventoryError{}}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, key := range []string{`"schema":2`, `"started":"2026-01-02T03:04:05Z"`, `"finished":`, `"incomplete":false`,
		`"partner":"P"`, `"domain":""`, `"host":"mx.p.example"`, `"address":""`, `"port":25`, `"tls":"starttls"`, `"enforced":false`,
		`"verdict":"DNSError"`, `"verdicts":["DNSError"]`, `"remedy":`, `"root":{"store":"none","file":"","subject":""`, `"not_after":null`,
		`"chain":[]`, `"tls_version":""`, `"cipher":""`, `"findings":[]`, `"error":""`, `"duration_ms":0`,
		`"private_roots":[]`, `"inventory_errors":[]`} {
		if !strings.Contains(s, key) {
			t.Errorf("results.json lacks %s", key)
		}
	}
	path := filepath.Join(t.TempDir(), "results.json")
	res.Partners[0].Root = Root{Store: RootSystem, Subject: "CN=R", NotAfter: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := WriteResults(path, res); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Partners[0].Root; got != res.Partners[0].Root {
		t.Errorf("root read back as %+v", got)
	}
}
