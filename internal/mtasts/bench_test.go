package mtasts

import "testing"

// BenchmarkParsePolicy: a typical four-MX policy.
func BenchmarkParsePolicy(b *testing.B) {
	body := []byte("version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: mx2.example.com\r\nmx: *.mail.protection.outlook.com\r\nmx: backup.example.net\r\nmax_age: 1209600\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePolicy(body); err != nil {
			b.Fatal(err)
		}
	}
}
