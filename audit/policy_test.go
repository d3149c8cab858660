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
		if slices.Contains(Order, v) {
			t.Errorf("%s is in Order already: move it out of PolicyVerdicts' comment", v)
		}
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
