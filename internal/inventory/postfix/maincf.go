package postfix

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
)

// MainCF is a parsed main.cf: every parameter as written (the last
// definition wins, as in Postfix) and where it was defined.
type MainCF struct {
	File   string
	Params map[string]string
	Lines  map[string]int
}

// builtin are the defaults of parameters main.cf values commonly refer to.
var builtin = map[string]string{
	"config_directory":      "/etc/postfix",
	"daemon_directory":      "/usr/lib/postfix/sbin",
	"data_directory":        "/var/lib/postfix",
	"queue_directory":       "/var/spool/postfix",
	"default_database_type": "hash",
	"compatibility_level":   "0",
}

// ReadMainCFFile reads the main.cf at path; see ReadMainCF.
func ReadMainCFFile(path string) (*MainCF, []audit.InventoryError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("main.cf: %w", err)
	}
	defer f.Close()
	return ReadMainCF(f, path)
}

// ReadMainCF parses main.cf text ("name = value" logical lines with
// comments and continuation lines, as postconf reads them). Lines that are
// not "name = value" are reported and skipped.
func ReadMainCF(r io.Reader, file string) (*MainCF, []audit.InventoryError, error) {
	data, err := readAll(r, file)
	if err != nil {
		return nil, nil, err
	}
	lines, errs := logicalLines(data, file)
	m := &MainCF{File: file, Params: map[string]string{}, Lines: map[string]int{}}
	for _, l := range lines {
		i := strings.IndexByte(l.text, '=')
		if i < 0 {
			errs = append(errs, audit.InventoryError{File: file, Line: l.first, Message: fmt.Sprintf("missing '=' after parameter name: %q", clip(l.text))})
			continue
		}
		name := strings.TrimSpace(l.text[:i])
		if name == "" || strings.ContainsAny(name, " \t") {
			errs = append(errs, audit.InventoryError{File: file, Line: l.first, Message: fmt.Sprintf("bad parameter name %q", clip(name))})
			continue
		}
		m.Params[name] = strings.TrimSpace(l.text[i+1:])
		m.Lines[name] = l.first
	}
	return m, errs, nil
}

// Lookup returns a parameter's value with $name, ${name}, $(name),
// ${name?text} and ${name:text} expanded (and $$ as $), and whether the
// parameter is set in main.cf. Names neither in main.cf nor among the
// common defaults expand to nothing and are reported in undefined.
func (m *MainCF) Lookup(name string) (value string, set bool, undefined []string) {
	raw, set := m.Params[name]
	if !set {
		raw = builtin[name]
	}
	ex := expander{m: m, budget: maxExpansion}
	v := ex.expand(raw, 0)
	if ex.budget < 0 {
		return "", set, append(ex.undefined, fmt.Sprintf("(expansion longer than %d bytes)", maxExpansion))
	}
	return v, set, ex.undefined
}

type expander struct {
	m         *MainCF
	undefined []string
	budget    int // bytes of work left: "$a$a$a..." nested ten deep must not explode
}

// Bounds on $name expansion: Postfix's macro nesting limit, and the work
// one lookup may do.
const (
	maxNesting   = 100
	maxExpansion = 1 << 20
)

func (x *expander) value(name string, depth int) (string, bool) {
	if v, ok := x.m.Params[name]; ok {
		return x.expand(v, depth+1), true
	}
	if v, ok := builtin[name]; ok {
		return x.expand(v, depth+1), true
	}
	return "", false
}

func (x *expander) expand(s string, depth int) string {
	if depth > maxNesting {
		x.undefined = append(x.undefined, "(unreasonable macro call nesting)")
		return ""
	}
	if x.budget -= len(s) + 1; x.budget < 0 {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i += 2
			continue
		}
		i++
		var expr string
		if i < len(s) && (s[i] == '{' || s[i] == '(') {
			open, closer := s[i], byte('}')
			if open == '(' {
				closer = ')'
			}
			level, j := 1, i+1
			for ; j < len(s) && level > 0; j++ {
				if s[j] == open {
					level++
				} else if s[j] == closer {
					level--
				}
			}
			if level > 0 {
				x.undefined = append(x.undefined, "(truncated macro reference)")
				return b.String()
			}
			expr, i = s[i+1:j-1], j
		} else {
			j := i
			for j < len(s) && (isAlnum(s[j]) || s[j] == '_') {
				j++
			}
			expr, i = s[i:j], j
		}
		b.WriteString(x.eval(expr, depth))
	}
	return b.String()
}

func (x *expander) eval(expr string, depth int) string {
	name, op, text := expr, byte(0), ""
	if k := strings.IndexAny(expr, "?:"); k > 0 {
		name, op, text = expr[:k], expr[k], expr[k+1:]
		text = strings.TrimSuffix(strings.TrimPrefix(text, "{"), "}")
	}
	v, ok := x.value(name, depth)
	if !ok && op == 0 {
		x.undefined = append(x.undefined, name)
	}
	switch op {
	case '?':
		if v != "" {
			return x.expand(text, depth+1)
		}
		return ""
	case ':':
		if v == "" {
			return x.expand(text, depth+1)
		}
		return ""
	}
	return v
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// listSplit splits a main.cf list at blanks and commas (and extra separators).
func listSplit(s, extra string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(" \t\r\n,"+extra, r) })
}

// Config derives the TLS settings the evaluation needs, with Postfix's
// defaults for what main.cf leaves unset; bad values are reported with the
// line they are on and the default is kept.
func (m *MainCF) Config() (mtapolicy.PostfixConfig, []audit.InventoryError) {
	c := mtapolicy.DefaultPostfixConfig()
	c.MainCF = m.File
	var errs []audit.InventoryError
	get := func(name string) (string, bool) {
		v, set, undef := m.Lookup(name)
		for _, u := range undef {
			msg := fmt.Sprintf("undefined parameter $%s expands to nothing", u)
			if strings.HasPrefix(u, "(") {
				msg = "cannot expand: " + strings.Trim(u, "()")
			}
			errs = append(errs, audit.InventoryError{File: m.File, Line: m.Lines[name], Column: name, Message: msg})
		}
		return v, set
	}
	bad := func(name, format string, args ...any) {
		errs = append(errs, audit.InventoryError{File: m.File, Line: m.Lines[name], Column: name, Message: fmt.Sprintf(format, args...)})
	}
	compat, _ := get("compatibility_level")
	c.CompatibilityLevel = compat
	if v, set := get("smtp_tls_security_level"); set && v != "" {
		l, err := mtapolicy.ParseLevel(v)
		if err != nil {
			bad("smtp_tls_security_level", "%v", err)
		} else {
			c.SecurityLevel = l
		}
	} else {
		// Legacy parameters decide when the level is empty.
		enforce, _ := get("smtp_enforce_tls")
		peer, peerSet := get("smtp_tls_enforce_peername")
		use, _ := get("smtp_use_tls")
		switch {
		case yes(enforce) && (!peerSet || yes(peer)):
			c.SecurityLevel = mtapolicy.LevelVerify
		case yes(enforce):
			c.SecurityLevel = mtapolicy.LevelEncrypt
		case yes(use):
			c.SecurityLevel = mtapolicy.LevelMay
		}
	}
	if v, set := get("smtp_tcp_port"); set && v != "" && v != "smtp" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 65535 {
			bad("smtp_tcp_port", "%q is not a port number (or smtp)", v)
		} else {
			c.Port = n
		}
	}
	if v, set := get("smtp_tls_verify_cert_match"); set {
		c.VerifyCertMatch = listSplit(v, ":")
	}
	if v, set := get("smtp_tls_secure_cert_match"); set {
		c.SecureCertMatch = listSplit(v, ":")
	}
	if v, set := get("smtp_tls_fingerprint_digest"); set && v != "" {
		c.FingerprintDigest = strings.ToLower(v)
		if _, err := mtapolicy.Fingerprint(c.FingerprintDigest, nil); err != nil {
			bad("smtp_tls_fingerprint_digest", "%v", err)
		}
	} else if !atLeast(compat, 3, 6) {
		c.FingerprintDigest = "md5"
	}
	if v, set := get("smtp_tls_fingerprint_cert_match"); set {
		c.FingerprintCertMatch = listSplit(v, "")
	}
	c.CAfile, _ = get("smtp_tls_CAfile")
	c.CApath, _ = get("smtp_tls_CApath")
	if v, set := get("smtp_tls_trust_anchor_file"); set {
		c.TrustAnchorFiles = listSplit(v, "")
	}
	for name, dst := range map[string]*string{"smtp_tls_protocols": &c.Protocols, "smtp_tls_mandatory_protocols": &c.MandatoryProtocols} {
		if v, set := get(name); set {
			if _, err := mtapolicy.ParseProtocols(v); err != nil {
				bad(name, "%v", err)
				continue
			}
			*dst = v
		}
	}
	if v, set := get("maximal_queue_lifetime"); set {
		d, err := postfixDuration(v, 'd')
		if err != nil {
			bad("maximal_queue_lifetime", "%v", err)
		} else {
			c.QueueLifetime = d
		}
	}
	c.DNSSupportLevel, _ = get("smtp_dns_support_level")
	if v, set := get("smtp_tls_policy_maps"); set {
		c.PolicyMaps = listSplit(v, "")
	}
	return c, errs
}

func yes(s string) bool {
	return strings.EqualFold(s, "yes") || strings.EqualFold(s, "true") || s == "1"
}

// atLeast compares a compatibility_level ("0", "2", "3.6", "3.11") with major.minor.
func atLeast(level string, major, minor int) bool {
	a, b, _ := strings.Cut(level, ".")
	ma, err := strconv.Atoi(a)
	if err != nil {
		return false
	}
	mi, _ := strconv.Atoi(b)
	return ma > major || ma == major && mi >= minor
}

// postfixDuration reads a Postfix time value ("5d", "3600s", "2w"; a bare
// number is in the parameter's default unit).
func postfixDuration(s string, unit byte) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty time value")
	}
	u := unit
	if c := s[len(s)-1]; c < '0' || c > '9' {
		u, s = c, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad time value %q", s)
	}
	per := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[u]
	if per == 0 {
		return 0, fmt.Errorf("bad time unit %q (want s, m, h, d or w)", string(u))
	}
	return time.Duration(n) * per, nil
}
