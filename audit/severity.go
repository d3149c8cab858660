package audit

import "fmt"

// Severity grades a verdict or finding.
type Severity string

// Severities, least to most severe.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Error    Severity = "error"
	Critical Severity = "critical"
)

// Level returns 0 for info up to 3 for critical, and -1 for an unknown severity.
func (s Severity) Level() int {
	switch s {
	case Info:
		return 0
	case Warning:
		return 1
	case Error:
		return 2
	case Critical:
		return 3
	}
	return -1
}

// ParseSeverity reads one of info, warning, error, critical.
func ParseSeverity(s string) (Severity, error) {
	if v := Severity(s); v.Level() >= 0 {
		return v, nil
	}
	return "", fmt.Errorf("unknown severity %q (want info, warning, error or critical)", s)
}
