package audit

import (
	"slices"
	"testing"
)

func TestPolicyVerdicts(t *testing.T) {
	for _, v := range PolicyVerdicts {
		if v.Remedy() == "" || v.PartnerRemedy() == "" || v.PartnerRemedy() == v.Remedy() {
			t.Errorf("%s: remedy %q, partner remedy %q", v, v.Remedy(), v.PartnerRemedy())
		}
		if v.Reporting().ResultType == "" {
			t.Errorf("%s has no RFC 8460 result type", v)
		}
		if !slices.Contains(Order, v) {
			t.Errorf("%s is not in Order", v)
		}
	}
	// DANE after HandshakeFailed and before the certificate verdicts; MTA-STS after DomainMismatch.
	for _, pair := range [][2]Verdict{{HandshakeFailed, DnssecBogus}, {TlsaMismatch, Revoked}, {DomainMismatch, StsPolicyFetchError}, {StsCertificateNotTrusted, IssuerChanged}} {
		if pair[0].Rank() >= pair[1].Rank() {
			t.Errorf("%s ranks %d, not before %s (%d)", pair[0], pair[0].Rank(), pair[1], pair[1].Rank())
		}
	}
}

func TestSetReporting(t *testing.T) {
	r := Result{Verdicts: []Verdict{TlsaMismatch, StsCertificateNotTrusted, IssuerChanged},
		Details:     map[Verdict]string{TlsaMismatch: "no record matches"},
		ResultTypes: map[Verdict]ResultType{StsCertificateNotTrusted: CertificateExpired}}
	r.SetReporting()
	r.SetReporting() // idempotent
	tests := []struct {
		name   string
		v      Verdict
		rt     ResultType
		detail string
	}{
		{"tlsa", TlsaMismatch, TLSAInvalid, "no record matches (Exchange Online NDR 5.7.323)"},
		{"sts keeps the precise type", StsCertificateNotTrusted, CertificateExpired, "Exchange Online NDR 4/5.4.8"},
		{"no RFC 8460 type", IssuerChanged, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r.ResultTypes[tc.v] != tc.rt || r.Details[tc.v] != tc.detail {
				t.Errorf("%s: type %q detail %q, want %q %q", tc.v, r.ResultTypes[tc.v], r.Details[tc.v], tc.rt, tc.detail)
			}
		})
	}
}

func TestReporting(t *testing.T) {
	tests := []struct {
		v   Verdict
		rt  ResultType
		ndr string
	}{
		{NoStartTLS, StartTLSNotSupported, "4/5.7.321"},
		{Expired, CertificateExpired, "5.7.322"},
		{TlsaMismatch, TLSAInvalid, "5.7.323"},
		{DnssecBogus, DNSSECInvalid, "5.7.324"},
		{NameMismatch, CertificateHostMismatch, "5.7.325"},
		{DaneRequiredNoTLS, DANERequired, "4/5.7.321"},
		{StsMxMismatch, ValidationFailure, "4/5.4.8"},
		{StsCertificateNotTrusted, CertificateNotTrusted, "4/5.4.8"},
		{StsPolicyFetchError, STSPolicyFetchError, ""},
		{StsPolicyInvalid, STSPolicyInvalid, ""},
		{StsWebPkiInvalid, STSWebPKIInvalid, ""},
		{UntrustedRoot, CertificateNotTrusted, "4.7.320"},
		{Valid, "", ""},
	}
	for _, tc := range tests {
		t.Run(string(tc.v), func(t *testing.T) {
			if got := tc.v.Reporting(); got.ResultType != tc.rt || got.NDR != tc.ndr {
				t.Errorf("%s.Reporting() = %+v, want %s %s", tc.v, got, tc.rt, tc.ndr)
			}
		})
	}
}
