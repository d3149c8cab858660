package postfix

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
)

// ReadPolicyMapFile reads the smtp_tls_policy_maps source file at path; see ReadPolicyMap.
func ReadPolicyMapFile(path string) (*mtapolicy.PolicyMap, []audit.InventoryError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("policy map: %w", err)
	}
	defer f.Close()
	return ReadPolicyMap(f, path)
}

// ReadPolicyMap parses an smtp_tls_policy_maps source file (as given to
// postmap); file names it in errors. Every line Postfix would reject or
// warn about is reported with file, line and reason. An entry Postfix
// stores but would refuse at delivery time (bad level, bad attribute) is
// kept with Invalid set, since mail for that destination is then deferred;
// lines postmap itself skips (no value, duplicate key) are left out. The
// error is non-nil only when the file cannot be read.
func ReadPolicyMap(r io.Reader, file string) (*mtapolicy.PolicyMap, []audit.InventoryError, error) {
	data, err := readAll(r, file)
	if err != nil {
		return nil, nil, err
	}
	lines, errs := logicalLines(data, file)
	m := &mtapolicy.PolicyMap{}
	for _, l := range lines {
		key, value := splitKeyValue(l.text)
		bad := func(col, format string, args ...any) {
			errs = append(errs, audit.InventoryError{File: file, Line: l.first, Column: col, Message: fmt.Sprintf(format, args...)})
		}
		if value == "" {
			bad("", "expected format: key whitespace value (%q has no value)", clip(key))
			continue
		}
		if why := checkKey(key); why != "" {
			bad("key", "%s", why)
			continue
		}
		p := ParsePolicy(value)
		p.Key, p.File, p.Line = key, file, l.first
		for _, w := range p.warnings {
			bad(w.col, "%s", w.msg)
		}
		if p.Invalid != "" {
			bad(p.invalidCol, "%s: Postfix defers mail for %s (4.7.5 client TLS configuration problem)", p.Invalid, key)
		}
		if !m.Add(p.PostfixPolicy) {
			bad("key", "duplicate entry %q: postmap keeps the first one and ignores this one", key)
		}
	}
	return m, errs, nil
}

// splitKeyValue splits a logical line at its first whitespace, as postmap does.
func splitKeyValue(s string) (string, string) {
	i := strings.IndexAny(s, " \t\r\n\v\f")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// checkKey explains why a key can never match a next-hop destination.
func checkKey(key string) string {
	k := key
	switch {
	case strings.HasPrefix(k, "*"):
		return fmt.Sprintf("key %q: the policy table has no wildcards; use %q for the subdomains", key, strings.TrimPrefix(k, "*"))
	case strings.HasSuffix(k, ".") || strings.HasSuffix(k, ".]"):
		return fmt.Sprintf("key %q ends in a dot: next-hop destinations never do, so it never matches", key)
	case strings.ContainsRune(k, '@'):
		return fmt.Sprintf("key %q: the policy table is indexed by next-hop destination, not by address", key)
	}
	if strings.HasPrefix(k, "[") {
		end := strings.IndexByte(k, ']')
		if end < 0 {
			return fmt.Sprintf("key %q: missing ']'", key)
		}
		rest := k[end+1:]
		if rest != "" && (!strings.HasPrefix(rest, ":") || !validPort(rest[1:])) {
			return fmt.Sprintf("key %q: after ']' only :port may follow", key)
		}
		k = k[1:end]
		if k == "" {
			return fmt.Sprintf("key %q: empty host name", key)
		}
	} else if i := strings.LastIndexByte(k, ':'); i > 0 && !strings.Contains(k[:i], ":") {
		if !validPort(k[i+1:]) {
			return fmt.Sprintf("key %q: %q is not a port", key, k[i+1:])
		}
		k = k[:i]
	}
	for _, r := range strings.TrimPrefix(k, ".") {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == ':' || r > 127) {
			return fmt.Sprintf("key %q: %q is not a host name character", key, r)
		}
	}
	return ""
}

func validPort(s string) bool {
	if s == "" || len(s) > 5 {
		return s != "" && isService(s)
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return isService(s)
		}
		n = n*10 + int(r-'0')
	}
	return n > 0 && n < 65536
}

// isService accepts a service name (smtp, submission) as Postfix does.
func isService(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

type warning struct{ col, msg string }

// Policy is a parsed policy value with what Postfix would say about it.
type Policy struct {
	mtapolicy.PostfixPolicy
	warnings   []warning
	invalidCol string
}

// ParsePolicy reads a policy table value ("secure match=nexthop:dot-nexthop
// tafile=/etc/postfix/ta.pem"): the level, then attributes separated by
// blanks or commas, "{ name = value }" for a value with blanks. It mirrors
// the checks of Postfix's smtp_tls_policy.c.
func ParsePolicy(value string) Policy {
	var p Policy
	toks, err := tokens(value)
	if err != "" {
		p.Invalid, p.invalidCol = err, "value"
		return p
	}
	if len(toks) == 0 {
		p.Invalid, p.invalidCol = "invalid empty policy", "level"
		return p
	}
	lvl, lerr := mtapolicy.ParseLevel(toks[0])
	if lerr != nil || toks[0] != strings.ToLower(toks[0]) {
		p.Invalid, p.invalidCol = fmt.Sprintf("invalid security level %q", toks[0]), "level"
		return p
	}
	p.Level = lvl
	if lvl == mtapolicy.LevelNone {
		for _, t := range toks[1:] {
			p.warnings = append(p.warnings, warning{"value", fmt.Sprintf("ignoring attribute %q with TLS disabled", t)})
		}
		return p
	}
	seen := map[string]bool{}
	for _, t := range toks[1:] {
		name, val, ok := splitNameValue(t)
		if !ok {
			p.Invalid, p.invalidCol = fmt.Sprintf("malformed attribute/value pair %q: missing '='", t), "value"
			return p
		}
		lname := strings.ToLower(name)
		invalid := func(format string, args ...any) Policy {
			p.Invalid, p.invalidCol = fmt.Sprintf(format, args...), lname
			return p
		}
		once := func() bool { d := seen[lname]; seen[lname] = true; return d }
		switch lname {
		case "ciphers", "protocols", "exclude", "servername", "policy_ttl", "policy_type", "policy_domain", "policy_failure":
			if once() {
				return invalid("attribute %q is specified multiple times", name)
			}
		}
		switch lname {
		case "ciphers":
			if val == "" {
				return invalid("attribute %q has empty value", name)
			}
			p.Ciphers = val
		case "protocols":
			if _, err := mtapolicy.ParseProtocols(val); err != nil {
				return invalid("attribute %q: %v", name, err)
			}
			p.Protocols = val
		case "exclude":
			p.Exclude = val
		case "match":
			if val == "" {
				return invalid("attribute %q has empty value", name)
			}
			switch lvl {
			case mtapolicy.LevelFingerprint:
				for _, fp := range strings.Split(val, "|") {
					if fp == "" {
						continue
					}
					if _, err := mtapolicy.NormalizeFingerprint(fp); err != nil {
						return invalid("attribute %q: %v", name, err)
					}
					p.Match = append(p.Match, fp)
				}
			case mtapolicy.LevelVerify, mtapolicy.LevelSecure:
				for _, s := range strings.Split(val, ":") {
					if s != "" {
						p.Match = append(p.Match, s)
					}
				}
			default:
				return invalid("attribute %q invalid at security level %q", name, lvl)
			}
		case "tafile":
			if lvl != mtapolicy.LevelVerify && lvl != mtapolicy.LevelSecure {
				return invalid("attribute %q invalid at security level %q", name, lvl)
			}
			if val == "" {
				return invalid("attribute %q has empty value", name)
			}
			p.TAFiles = append(p.TAFiles, val)
		case "connection_reuse", "enable_rpk":
			if !strings.EqualFold(val, "yes") && !strings.EqualFold(val, "no") {
				return invalid("attribute %q has bad value: %q", name, val)
			}
			p.Other = append(p.Other, name+"="+val)
		case "servername", "policy_ttl", "policy_type", "policy_domain", "policy_string", "mx_host_pattern", "policy_failure":
			p.Other = append(p.Other, name+"="+val)
		default:
			return invalid("invalid attribute name: %q", name)
		}
	}
	if !seen["policy_type"] {
		for _, a := range []string{"policy_ttl", "policy_domain", "policy_failure"} {
			if seen[a] {
				p.Invalid, p.invalidCol = "built-in policy has unexpected attribute "+a, a
				return p
			}
		}
	}
	return p
}

// tokens splits a policy value at blanks and commas; "{...}" is one token.
func tokens(s string) ([]string, string) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == ',' || c == '\r' || c == '\n':
			i++
		case c == '{':
			depth, j := 0, i
			for ; j < len(s); j++ {
				if s[j] == '{' {
					depth++
				} else if s[j] == '}' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if j >= len(s) {
				return nil, fmt.Sprintf("missing '}' in %q", clip(s[i:]))
			}
			out = append(out, s[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t,\r\n", rune(s[j])) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, ""
}

// splitNameValue splits "name=value" or "{ name = value }" (whitespace normalised).
func splitNameValue(t string) (string, string, bool) {
	if strings.HasPrefix(t, "{") {
		t = strings.Join(strings.Fields(t[1:len(t)-1]), " ")
	}
	i := strings.IndexByte(t, '=')
	if i <= 0 {
		return "", "", false
	}
	return strings.TrimSpace(t[:i]), strings.TrimSpace(t[i+1:]), true
}
