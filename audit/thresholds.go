package audit

import (
	"errors"
	"fmt"
	"time"
)

// Thresholds are the numbers a run is graded by: the [thresholds] table of
// the --config file, recorded in results.json so that a report rendered
// later says the same. Verify (WeakKey), the built-in checks (expiry,
// private-root), the private-root lifecycle, change detection, the
// reports and the mails all read them from here.
type Thresholds struct {
	MinRSABits        int `json:"min_rsa_bits"`        // an RSA key shorter than this is WeakKey
	MinECBits         int `json:"min_ec_bits"`         // an EC key on a smaller curve is WeakKey
	ExpiryWarningDays int `json:"expiry_warning_days"` // a chain certificate expiring within this many days: warning
	ExpiryErrorDays   int `json:"expiry_error_days"`   // within this many days: error
	RootExpiringDays  int `json:"root_expiring_days"`  // an imported private root within this many days of its end is expiring
}

// ThresholdKeys are the keys of the [thresholds] table, in the order of Thresholds.
var ThresholdKeys = []string{"min_rsa_bits", "min_ec_bits", "expiry_warning_days", "expiry_error_days", "root_expiring_days"}

// DefaultThresholds returns the thresholds of a run whose config sets none:
// RSA 2048 and EC 256 bits (NIST SP 800-57, CA/Browser Forum BR 6.1.5),
// expiry warnings from 30 and errors from 7 days before NotAfter, private
// roots expiring from 90 days before theirs.
func DefaultThresholds() Thresholds {
	return Thresholds{MinRSABits: 2048, MinECBits: 256, ExpiryWarningDays: 30, ExpiryErrorDays: 7, RootExpiringDays: 90}
}

// Set sets the threshold named key (one of ThresholdKeys) to n.
func (t *Thresholds) Set(key string, n int) error {
	switch key {
	case "min_rsa_bits":
		t.MinRSABits = n
	case "min_ec_bits":
		t.MinECBits = n
	case "expiry_warning_days":
		t.ExpiryWarningDays = n
	case "expiry_error_days":
		t.ExpiryErrorDays = n
	case "root_expiring_days":
		t.RootExpiringDays = n
	default:
		return fmt.Errorf("no threshold %q (known: min_rsa_bits, min_ec_bits, expiry_warning_days, expiry_error_days, root_expiring_days)", key)
	}
	return nil
}

// Get returns the threshold named key (one of ThresholdKeys), or false.
func (t Thresholds) Get(key string) (int, bool) {
	switch key {
	case "min_rsa_bits":
		return t.MinRSABits, true
	case "min_ec_bits":
		return t.MinECBits, true
	case "expiry_warning_days":
		return t.ExpiryWarningDays, true
	case "expiry_error_days":
		return t.ExpiryErrorDays, true
	case "root_expiring_days":
		return t.RootExpiringDays, true
	}
	return 0, false
}

// Validate reports thresholds that cannot grade anything: a key size below
// one bit, a negative number of days, or an error window wider than the
// warning window.
func (t Thresholds) Validate() error {
	var errs []error
	if t.MinRSABits < 1 {
		errs = append(errs, fmt.Errorf("min_rsa_bits = %d: want at least 1", t.MinRSABits))
	}
	if t.MinECBits < 1 {
		errs = append(errs, fmt.Errorf("min_ec_bits = %d: want at least 1", t.MinECBits))
	}
	for _, k := range []string{"expiry_warning_days", "expiry_error_days", "root_expiring_days"} {
		if n, _ := t.Get(k); n < 0 {
			errs = append(errs, fmt.Errorf("%s = %d: want 0 or more days", k, n))
		}
	}
	if t.ExpiryErrorDays > t.ExpiryWarningDays {
		errs = append(errs, fmt.Errorf("expiry_error_days = %d is more than expiry_warning_days = %d: the error window lies inside the warning window", t.ExpiryErrorDays, t.ExpiryWarningDays))
	}
	return errors.Join(errs...)
}

// MinKeyBits returns the smallest acceptable key size for a key type as
// KeyInfo names it ("RSA", "ECDSA"), or 0 when the type has no minimum.
func (t Thresholds) MinKeyBits(keyType string) int {
	switch keyType {
	case "RSA":
		return t.MinRSABits
	case "ECDSA":
		return t.MinECBits
	}
	return 0
}

// WeakKey reports whether a key of keyType and bits is below its minimum: the rule of the WeakKey verdict.
func (t Thresholds) WeakKey(keyType string, bits int) bool {
	m := t.MinKeyBits(keyType)
	return m > 0 && bits > 0 && bits < m
}

// ExpirySeverity grades a certificate that has not expired yet by its days
// left (DaysLeft): error within ExpiryErrorDays, warning within
// ExpiryWarningDays, and false beyond. An expired certificate is the
// Expired verdict, not an expiry finding.
func (t Thresholds) ExpirySeverity(daysLeft int) (Severity, bool) {
	switch {
	case daysLeft < 0:
		return "", false
	case daysLeft <= t.ExpiryErrorDays:
		return Error, true
	case daysLeft <= t.ExpiryWarningDays:
		return Warning, true
	}
	return "", false
}

// ExpiryMarks are the days-left marks whose crossing between two runs is
// an expiry_threshold change, widest first: ExpiryWarningDays,
// ExpiryErrorDays, and 0 standing for expired (below 0 days left).
// A window of 0 days has no mark of its own.
func (t Thresholds) ExpiryMarks() []int {
	var marks []int
	if t.ExpiryWarningDays > 0 {
		marks = append(marks, t.ExpiryWarningDays)
	}
	if t.ExpiryErrorDays > 0 && t.ExpiryErrorDays < t.ExpiryWarningDays {
		marks = append(marks, t.ExpiryErrorDays)
	}
	return append(marks, 0)
}

// RootStatus grades a private root by its days left and whether it is in
// use: expired or expiring (within RootExpiringDays) before unused, unused
// before ok. It is the one rule for a root's status (see Lifecycle).
func (t Thresholds) RootStatus(daysLeft int, used bool) string {
	switch {
	case daysLeft < 0:
		return RootExpired
	case daysLeft <= t.RootExpiringDays:
		return RootExpiring
	case !used:
		return RootUnused
	}
	return RootOK
}

// ReviewBy is the day from which a root ending at notAfter counts as expiring.
func (t Thresholds) ReviewBy(notAfter time.Time) time.Time {
	return notAfter.AddDate(0, 0, -t.RootExpiringDays)
}

// RunThresholds returns the thresholds the run was graded by: those
// recorded in results.json, or the defaults for a file written before they were.
func (r *Results) RunThresholds() Thresholds {
	if r == nil || r.Thresholds == nil {
		return DefaultThresholds()
	}
	return *r.Thresholds
}
