package audit

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestThresholds(t *testing.T) {
	def := DefaultThresholds()
	if err := def.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	for _, k := range ThresholdKeys {
		n, ok := def.Get(k)
		var th Thresholds
		if !ok || th.Set(k, n) != nil {
			t.Errorf("threshold %s cannot be read or set", k)
		}
		if got, _ := th.Get(k); got != n {
			t.Errorf("%s set to %d reads %d", k, n, got)
		}
	}
	if err := new(Thresholds).Set("expiring_days", 30); err == nil || !strings.Contains(err.Error(), "root_expiring_days") {
		t.Errorf("an unknown key: %v, want an error naming the known ones", err)
	}
	for _, tt := range []struct {
		name string
		th   Thresholds
		want string // in the error; "" for none
	}{
		{"defaults", def, ""},
		{"no error window", Thresholds{2048, 256, 30, 0, 90}, ""},
		{"zero bits", Thresholds{0, 256, 30, 7, 90}, "min_rsa_bits = 0"},
		{"negative days", Thresholds{2048, 256, 30, 7, -1}, "root_expiring_days = -1"},
		{"error window wider", Thresholds{2048, 256, 7, 30, 90}, "expiry_error_days = 30 is more than expiry_warning_days = 7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.th.Validate()
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestWeakKeyAndExpiry(t *testing.T) {
	th := DefaultThresholds()
	th.MinRSABits = 1024
	for _, tt := range []struct {
		typ  string
		bits int
		weak bool
	}{{"RSA", 1023, true}, {"RSA", 1024, false}, {"ECDSA", 224, true}, {"ECDSA", 256, false}, {"Ed25519", 256, false}, {"RSA", 0, false}} {
		if got := th.WeakKey(tt.typ, tt.bits); got != tt.weak {
			t.Errorf("WeakKey(%s %d) = %v under %d/%d", tt.typ, tt.bits, got, th.MinRSABits, th.MinECBits)
		}
	}
	for _, tt := range []struct {
		days int
		sev  Severity
		soon bool
	}{{-1, "", false}, {0, Error, true}, {7, Error, true}, {8, Warning, true}, {30, Warning, true}, {31, "", false}} {
		if sev, soon := th.ExpirySeverity(tt.days); sev != tt.sev || soon != tt.soon {
			t.Errorf("ExpirySeverity(%d) = %s, %v; want %s, %v", tt.days, sev, soon, tt.sev, tt.soon)
		}
	}
	for _, tt := range []struct {
		warn, err int
		marks     []int
	}{{30, 7, []int{30, 7, 0}}, {30, 0, []int{30, 0}}, {30, 30, []int{30, 0}}, {0, 0, []int{0}}} {
		if got := (Thresholds{ExpiryWarningDays: tt.warn, ExpiryErrorDays: tt.err}).ExpiryMarks(); !slices.Equal(got, tt.marks) {
			t.Errorf("ExpiryMarks(%d, %d) = %v, want %v", tt.warn, tt.err, got, tt.marks)
		}
	}
	if got := (&Results{}).RunThresholds(); got != DefaultThresholds() {
		t.Errorf("a results.json without thresholds grades by %+v, want the defaults", got)
	}
}

// TestLifecycle: the one rule for a private root, in its three situations.
func TestLifecycle(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	roots := []PrivateRoot{
		{File: "used.cer", SHA256: "AA", NotAfter: now.Add(400 * day)},
		{File: "declared.cer", SHA256: "BB", NotAfter: now.Add(400 * day)},
		{File: "soon.cer", SHA256: "CC", NotAfter: now.Add(60 * day), Findings: []Finding{{Check: "x"}}},
		{File: "gone.cer", SHA256: "DD", NotAfter: now.Add(-day)},
	}
	rows := []Result{
		{Partner: Partner{Name: "A", PrivateRoot: "used.cer"}, Root: Root{Store: RootPrivate, SHA256: "aa"}},
		{Partner: Partner{Name: "A", PrivateRoot: "used.cer"}, Root: Root{Store: RootPrivate, SHA256: "AA"}}, // a second MX host
		{Partner: Partner{Name: "B", PrivateRoot: "/etc/roots/declared.cer"}, Root: Root{Store: RootSystem, SHA256: "BB"}},
		{Partner: Partner{Name: "C"}, Root: Root{Store: RootPrivate, SHA256: "CC"}},
	}
	in30 := DefaultThresholds()
	in30.RootExpiringDays = 30
	for _, tt := range []struct {
		name   string
		use    RootUse
		th     Thresholds
		status []string
	}{
		{"probed", UsedByChain, DefaultThresholds(), []string{RootOK, RootUnused, RootExpiring, RootExpired}},
		{"probed, 30 days", UsedByChain, in30, []string{RootOK, RootUnused, RootOK, RootExpired}},
		{"inventory only", UsedByDeclaration, in30, []string{RootOK, RootOK, RootUnused, RootExpired}},
		{"neither", UseUnknown, in30, []string{RootOK, RootOK, RootOK, RootExpired}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Lifecycle(roots, rows, tt.use, now, tt.th)
			var status []string
			for _, pr := range got {
				status = append(status, pr.Status)
			}
			if !slices.Equal(status, tt.status) {
				t.Errorf("status %v, want %v", status, tt.status)
			}
			if !slices.Equal(got[0].DeclaredBy, []string{"A"}) || !slices.Equal(got[1].DeclaredBy, []string{"B"}) {
				t.Errorf("declared by %v, %v", got[0].DeclaredBy, got[1].DeclaredBy)
			}
			wantUsed := []string{"A"}
			if tt.use != UsedByChain {
				wantUsed = []string{}
			}
			if !slices.Equal(got[0].UsedBy, wantUsed) || len(got[1].UsedBy) != 0 {
				t.Errorf("used by %v, %v; want %v and none (B's chain ends in a system root)", got[0].UsedBy, got[1].UsedBy, wantUsed)
			}
			if got[2].DaysLeft != 60 || got[3].DaysLeft != -1 || len(got[2].Findings) != 1 {
				t.Errorf("days left %d, %d; findings %v kept", got[2].DaysLeft, got[3].DaysLeft, got[2].Findings)
			}
		})
	}
	if roots[0].Status != "" {
		t.Error("Lifecycle changed its input")
	}
}

func TestStandingAndTLSMode(t *testing.T) {
	warn := Finding{Check: "tls-version", Severity: Warning, Message: "x"}
	for _, tt := range []struct {
		r    Result
		want string
	}{
		{Result{Verdict: Valid, Verdicts: []Verdict{Valid}}, "Valid"},
		{Result{Verdict: Valid, Verdicts: []Verdict{Valid}, Findings: []Finding{{Severity: Info}}}, "Valid"},
		{Result{Verdict: Valid, Verdicts: []Verdict{Valid}, Findings: []Finding{warn}}, ValidWithFindings},
		{Result{Verdict: NameMismatch, Verdicts: []Verdict{NameMismatch}, Findings: []Finding{warn}}, "NameMismatch"},
	} {
		if got := tt.r.Standing(); got != tt.want {
			t.Errorf("Standing of %s with %v = %q, want %q", tt.r.Verdict, tt.r.Findings, got, tt.want)
		}
	}
	for _, tt := range []struct {
		s    string
		port int
		want TLSMode
		err  bool
	}{{"", 25, StartTLS, false}, {"", 465, Implicit, false}, {"", 587, StartTLS, false}, {"STARTTLS", 465, StartTLS, false}, {" implicit ", 25, Implicit, false}, {"ssl", 25, "", true}} {
		got, err := ParseTLSMode(tt.s, tt.port)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseTLSMode(%q, %d) = %q, %v", tt.s, tt.port, got, err)
		}
	}
}
