// Package mtasts reads a mail domain's MTA-STS (RFC 8461) publication:
// the _mta-sts TXT record, the policy fetched over HTTPS from
// mta-sts.DOMAIN, and what the policy makes of each MX host and its
// certificate.
//
// It does no DNS itself: the caller looks up the TXT record and hands the
// strings to ParseRecords.
package mtasts

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of RFC 8461.
const (
	MaxAge        = 31557600 // the largest max_age (section 3.2), one year
	MaxPolicySize = 64 << 10 // the policy size a sender reads (section 3.3 suggests 64 KiB)
	maxNameLen    = 32       // field names: 1*32 characters (section 3.2 ABNF)
	maxAgeDigits  = 10       // max_age: 1*10 DIGIT
	maxIDLen      = 32       // id: 1*32 (ALPHA / DIGIT)
	wellKnownPath = "/.well-known/mta-sts.txt"
)

// Mode is a policy's mode.
type Mode string

// Modes.
const (
	Enforce Mode = "enforce" // senders deliver only to listed MX hosts with valid certificates
	Testing Mode = "testing" // senders report failures (TLS-RPT) but deliver anyway
	None    Mode = "none"    // the domain withdraws its policy
)

// Policy is a parsed MTA-STS policy.
type Policy struct {
	Version string
	Mode    Mode
	MX      []string // patterns, lower case: "mx1.example.com" or "*.example.com"
	MaxAge  int64    // seconds, as published (may exceed MaxAge; see Warnings)
	// Warnings are deviations senders tolerate: a max_age above MaxAge
	// (senders cap it), a repeated field (the first counts).
	Warnings []string
}

// SyntaxError is a policy line that breaks RFC 8461 section 3.2.
type SyntaxError struct {
	Line  int    // 1-based; 0 for the policy as a whole
	Field string // the field name, when known
	Msg   string
}

func (e *SyntaxError) Error() string {
	switch {
	case e.Line == 0:
		return "policy: " + e.Msg
	case e.Field == "":
		return fmt.Sprintf("policy line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("policy line %d: field %q: %s", e.Line, e.Field, e.Msg)
}

// ParsePolicy parses a policy body (RFC 8461 section 3.2): CRLF- or
// LF-separated "name: value" lines; version, mode and max_age required,
// mx required unless the mode is none; unknown fields ignored.
func ParsePolicy(body []byte) (*Policy, error) {
	if len(body) > MaxPolicySize {
		return nil, &SyntaxError{Msg: fmt.Sprintf("%d bytes, more than the %d a sender reads", len(body), MaxPolicySize)}
	}
	p := &Policy{}
	seen := map[string]int{}
	lines := bytes.Split(body, []byte("\n"))
	for i, raw := range lines {
		n := i + 1
		line := string(bytes.TrimSuffix(raw, []byte("\r")))
		if strings.TrimSpace(line) == "" {
			continue
		}
		if err := checkText(line); err != nil {
			return nil, &SyntaxError{Line: n, Msg: err.Error()}
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, &SyntaxError{Line: n, Msg: fmt.Sprintf("%q is not a \"name: value\" line", line)}
		}
		if !validName(name) {
			return nil, &SyntaxError{Line: n, Msg: fmt.Sprintf("%q is not a field name", name)}
		}
		value = strings.Trim(value, " \t")
		if value == "" {
			return nil, &SyntaxError{Line: n, Field: name, Msg: "empty value"}
		}
		if first, dup := seen[name]; dup && name != "mx" {
			if isKnown(name) {
				p.Warnings = append(p.Warnings, fmt.Sprintf("line %d: field %q repeats line %d; senders use the first", n, name, first))
			}
			continue
		}
		seen[name] = n
		switch name {
		case "version":
			if value != "STSv1" {
				return nil, &SyntaxError{Line: n, Field: name, Msg: fmt.Sprintf("%q, want STSv1", value)}
			}
			p.Version = value
		case "mode":
			switch m := Mode(value); m {
			case Enforce, Testing, None:
				p.Mode = m
			default:
				return nil, &SyntaxError{Line: n, Field: name, Msg: fmt.Sprintf("%q, want enforce, testing or none", value)}
			}
		case "max_age":
			if len(value) > maxAgeDigits || strings.Trim(value, "0123456789") != "" {
				return nil, &SyntaxError{Line: n, Field: name, Msg: fmt.Sprintf("%q is not 1 to 10 digits", value)}
			}
			age, _ := strconv.ParseInt(value, 10, 64)
			if age > MaxAge {
				p.Warnings = append(p.Warnings, fmt.Sprintf("line %d: max_age %d is above the RFC 8461 maximum %d; senders cap it", n, age, MaxAge))
			}
			p.MaxAge = age
		case "mx":
			pat := strings.ToLower(strings.TrimSuffix(value, "."))
			if err := checkPattern(pat); err != nil {
				return nil, &SyntaxError{Line: n, Field: name, Msg: fmt.Sprintf("%q: %v", value, err)}
			}
			p.MX = append(p.MX, pat)
		}
	}
	for _, f := range []string{"version", "mode", "max_age"} {
		if _, ok := seen[f]; !ok {
			return nil, &SyntaxError{Field: f, Msg: fmt.Sprintf("no %q field", f)}
		}
	}
	if len(p.MX) == 0 && p.Mode != None {
		return nil, &SyntaxError{Field: "mx", Msg: fmt.Sprintf("no \"mx\" field in mode %s: no MX host could match", p.Mode)}
	}
	return p, nil
}

// String writes p in the policy format, CRLF-separated.
func (p *Policy) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: %s\r\nmode: %s\r\n", p.Version, p.Mode)
	for _, mx := range p.MX {
		fmt.Fprintf(&b, "mx: %s\r\n", mx)
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", p.MaxAge)
	return b.String()
}

// EffectiveMaxAge returns max_age capped at MaxAge, as senders apply it.
func (p *Policy) EffectiveMaxAge() int64 { return min(p.MaxAge, MaxAge) }

func isKnown(name string) bool {
	return name == "version" || name == "mode" || name == "max_age" || name == "mx"
}

// validName checks sts-policy-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// checkText rejects control characters and invalid UTF-8 in a policy line.
func checkText(line string) error {
	if !utf8.ValidString(line) {
		return errors.New("invalid UTF-8")
	}
	for i, r := range line {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return fmt.Errorf("control character %#x at column %d", r, i+1)
		}
	}
	return nil
}

// checkPattern checks an mx pattern: ["*."] Domain (RFC 8461 section 3.2, RFC 5321 Domain).
func checkPattern(p string) error {
	name := strings.TrimPrefix(p, "*.")
	if len(name) > 253 {
		return errors.New("name longer than 253 characters")
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 {
			return errors.New("empty or too long label")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return errors.New("label starts or ends with a hyphen")
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !isAlnum(c) && c != '-' {
				return fmt.Errorf("%q is not a letter, digit or hyphen", c)
			}
		}
	}
	return nil
}

// Matches reports whether host matches pattern (RFC 8461 section 4.1): equal
// names, or "*.example.com" for exactly one label in front of example.com.
func Matches(pattern, host string) bool {
	pattern = strings.ToLower(strings.TrimSuffix(pattern, "."))
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || pattern == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		label, parent, found := strings.Cut(host, ".")
		return found && label != "" && parent == rest
	}
	return pattern == host
}

// Allows reports whether p lists host, and the pattern that matches.
func (p *Policy) Allows(host string) (string, bool) {
	for _, pat := range p.MX {
		if Matches(pat, host) {
			return pat, true
		}
	}
	return "", false
}
