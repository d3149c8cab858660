package mtapolicy

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Level is a Postfix TLS security level, in Postfix's order of increasing security.
type Level int

// The Postfix TLS security levels (postconf(5) smtp_tls_security_level).
const (
	LevelNone Level = iota
	LevelMay
	LevelEncrypt
	LevelDane
	LevelDaneOnly
	LevelFingerprint
	LevelVerify
	LevelSecure
)

var levelNames = []string{"none", "may", "encrypt", "dane", "dane-only", "fingerprint", "verify", "secure"}

// String is the level's name as Postfix writes it.
func (l Level) String() string {
	if l >= 0 && int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// ParseLevel reads a Postfix security level name (case-insensitive).
func ParseLevel(s string) (Level, error) {
	if i := slices.Index(levelNames, strings.ToLower(s)); i >= 0 {
		return Level(i), nil
	}
	return 0, fmt.Errorf("invalid security level %q (want one of %s)", s, strings.Join(levelNames, ", "))
}

// pkix reports whether the level verifies a chain against CAs (tafile is valid there).
func (l Level) pkix() bool { return l == LevelVerify || l == LevelSecure }

// PostfixPolicy is one smtp_tls_policy_maps entry, or the main.cf default
// when no entry matches.
type PostfixPolicy struct {
	Key       string   // the lookup key as written: "example.com", ".example.com", "[mx.example.com]:587"; "" for the main.cf default
	Level     Level    //
	Match     []string // match= values: strategies and names (verify, secure), or digests (fingerprint); nil means the main.cf default
	TAFiles   []string // tafile= paths, in order
	Protocols string   // protocols= (colon-separated), "" means main.cf
	Ciphers   string   // ciphers= grade
	Exclude   string   // exclude= cipher list
	Other     []string // other name=value attributes Postfix accepts (servername, connection_reuse, enable_rpk, policy_*, mx_host_pattern)
	Invalid   string   // why Postfix rejects this entry at delivery time ("4.7.5 client TLS configuration problem"); "" when valid
	File      string   // where the entry is
	Line      int      //
	Anchors   *Anchors // the loaded tafile anchors; nil when TAFiles is empty or not loaded yet
}

// Where names the entry's place for a Decision.
func (p PostfixPolicy) Where() string {
	switch {
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	case p.File != "":
		return p.File
	case p.Key == "":
		return "main.cf"
	}
	return ""
}

// String writes the entry's value as it reads in the policy table.
func (p PostfixPolicy) String() string {
	parts := []string{p.Level.String()}
	if len(p.Match) > 0 {
		sep := ":"
		if p.Level == LevelFingerprint {
			sep = "|"
		}
		parts = append(parts, "match="+strings.Join(p.Match, sep))
	}
	for _, f := range p.TAFiles {
		parts = append(parts, "tafile="+f)
	}
	if p.Protocols != "" {
		parts = append(parts, "protocols="+p.Protocols)
	}
	if p.Ciphers != "" {
		parts = append(parts, "ciphers="+p.Ciphers)
	}
	if p.Exclude != "" {
		parts = append(parts, "exclude="+p.Exclude)
	}
	return strings.Join(append(parts, p.Other...), " ")
}

// As returns the policy as if its level were l (a "what if"): the match
// list is kept only when it means the same at the new level, tafile only
// at verify and secure.
func (p PostfixPolicy) As(l Level) PostfixPolicy {
	q := p
	q.Level = l
	q.Invalid = ""
	if (p.Level == LevelFingerprint) != (l == LevelFingerprint) || !(l == LevelFingerprint || l.pkix()) {
		q.Match = nil
	}
	if !l.pkix() {
		q.TAFiles, q.Anchors = nil, nil
	}
	return q
}

// PostfixConfig holds the main.cf settings the evaluation needs, with
// Postfix's defaults for those main.cf does not set.
type PostfixConfig struct {
	SecurityLevel        Level         // smtp_tls_security_level (legacy smtp_use_tls/smtp_enforce_tls when empty)
	VerifyCertMatch      []string      // smtp_tls_verify_cert_match, default hostname
	SecureCertMatch      []string      // smtp_tls_secure_cert_match, default nexthop, dot-nexthop
	FingerprintDigest    string        // smtp_tls_fingerprint_digest: sha256 at compatibility_level >= 3.6, md5 before
	FingerprintCertMatch []string      // smtp_tls_fingerprint_cert_match
	CAfile, CApath       string        // smtp_tls_CAfile, smtp_tls_CApath
	TrustAnchorFiles     []string      // smtp_tls_trust_anchor_file
	Protocols            string        // smtp_tls_protocols (may)
	MandatoryProtocols   string        // smtp_tls_mandatory_protocols (encrypt and above)
	CompatibilityLevel   string        // compatibility_level
	QueueLifetime        time.Duration // maximal_queue_lifetime, default 5d
	DNSSupportLevel      string        // smtp_dns_support_level: dane needs "dnssec"
	Anchors              *Anchors      // loaded smtp_tls_trust_anchor_file anchors
	PolicyMaps           []string      // smtp_tls_policy_maps tables ("hash:/etc/postfix/tls_policy")
	Port                 int           // smtp_tcp_port: the port the SMTP client connects to (25, "smtp")
	MainCF               string        // the main.cf these settings were read from; "" when none was (then dane assumes DNSSEC lookups are on)
}

// DefaultPostfixConfig is what Postfix does with an empty main.cf (at
// compatibility level 3.6: the level Debian's and Postfix's own main.cf
// template set).
func DefaultPostfixConfig() PostfixConfig {
	return PostfixConfig{
		SecurityLevel:      LevelNone,
		VerifyCertMatch:    []string{"hostname"},
		SecureCertMatch:    []string{"nexthop", "dot-nexthop"},
		FingerprintDigest:  "sha256",
		Protocols:          ">=TLSv1",
		MandatoryProtocols: ">=TLSv1",
		CompatibilityLevel: "3.6",
		QueueLifetime:      5 * 24 * time.Hour,
		Port:               25,
	}
}

// Default returns the policy main.cf gives a destination no entry matches.
func (c PostfixConfig) Default() PostfixPolicy {
	return PostfixPolicy{Level: c.SecurityLevel, File: c.MainCF}
}

// PolicyMap is a parsed smtp_tls_policy_maps source file.
type PolicyMap struct {
	Entries []PostfixPolicy
	index   map[string]int
}

// Add appends an entry; a later duplicate key is ignored as postmap ignores
// it (the first entry wins). It reports whether e was added.
func (m *PolicyMap) Add(e PostfixPolicy) bool {
	if m.index == nil {
		m.index = map[string]int{}
	}
	k := strings.ToLower(e.Key)
	if _, dup := m.index[k]; dup {
		return false
	}
	m.index[k] = len(m.Entries)
	m.Entries = append(m.Entries, e)
	return true
}

// Lookup finds the entry for a next-hop destination as Postfix does: the
// destination as written ("[host]:port", "[host]", "host:port" match only
// themselves); a domain, then its parent domains with a leading dot.
func (m *PolicyMap) Lookup(dest string) (PostfixPolicy, bool) {
	if m == nil {
		return PostfixPolicy{}, false
	}
	d := strings.TrimSuffix(strings.ToLower(dest), ".")
	if i, ok := m.index[d]; ok {
		return m.Entries[i], true
	}
	if strings.ContainsAny(d, "[]:") {
		return PostfixPolicy{}, false
	}
	for s := d; ; {
		j := strings.IndexByte(s[1:], '.')
		if j < 0 {
			return PostfixPolicy{}, false
		}
		s = s[j+1:]
		if i, ok := m.index[s]; ok {
			return m.Entries[i], true
		}
	}
}

// Effective is the policy Postfix applies to dest: the map's entry, or main.cf's default.
func (c PostfixConfig) Effective(m *PolicyMap, dest string) PostfixPolicy {
	if p, ok := m.Lookup(dest); ok {
		return p
	}
	return c.Default()
}

// NextHopName strips the brackets and port of a Postfix destination
// ("[mx.example.com]:587" -> "mx.example.com"): the name nexthop matching uses.
func NextHopName(dest string) string {
	d := dest
	if strings.HasPrefix(d, "[") {
		if i := strings.IndexByte(d, ']'); i > 0 {
			return d[1:i]
		}
	}
	if h, _, err := net.SplitHostPort(d); err == nil {
		return h
	}
	return d
}

// protocol versions Postfix knows, lowest first.
var protoVersions = []struct {
	name string
	v    uint16
}{{"SSLv2", 0x0200}, {"SSLv3", tls.VersionSSL30}, {"TLSv1", tls.VersionTLS10}, {"TLSv1.1", tls.VersionTLS11}, {"TLSv1.2", tls.VersionTLS12}, {"TLSv1.3", tls.VersionTLS13}}

func protoByName(s string) (uint16, bool) {
	for _, p := range protoVersions {
		if strings.EqualFold(p.name, s) {
			return p.v, true
		}
	}
	// Postfix >= 3.6 also takes hexadecimal numbers in bounds: 0301, 0x303, 304.
	h := strings.TrimPrefix(strings.ToLower(s), "0x")
	if n, err := strconv.ParseUint(h, 16, 16); err == nil && n >= 0x0300 && n <= 0x0304 {
		return uint16(n), true
	}
	return 0, false
}

// ParseProtocols reads a Postfix protocol list (">=TLSv1.2", "!SSLv2:!SSLv3",
// "TLSv1.2:TLSv1.3"; main.cf also separates with blanks and commas) and
// returns the versions it allows.
func ParseProtocols(s string) ([]uint16, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' || r == ' ' || r == '\t' })
	include := map[uint16]bool{}
	exclude := map[uint16]bool{}
	lo, hi := uint16(0), uint16(0xffff)
	for _, f := range fields {
		switch {
		case strings.HasPrefix(f, ">="):
			v, ok := protoByName(f[2:])
			if !ok {
				return nil, fmt.Errorf("invalid TLS protocol version %q", f[2:])
			}
			lo = v
		case strings.HasPrefix(f, "<="):
			v, ok := protoByName(f[2:])
			if !ok {
				return nil, fmt.Errorf("invalid TLS protocol version %q", f[2:])
			}
			hi = v
		case strings.HasPrefix(f, "!"):
			v, ok := protoByName(f[1:])
			if !ok {
				return nil, fmt.Errorf("invalid TLS protocol name %q", f[1:])
			}
			exclude[v] = true
		default:
			v, ok := protoByName(f)
			if !ok {
				return nil, fmt.Errorf("invalid TLS protocol name %q", f)
			}
			include[v] = true
		}
	}
	var out []uint16
	for _, p := range protoVersions[1:] { // SSLv2 is never negotiated
		if p.v < lo || p.v > hi || exclude[p.v] || (len(include) > 0 && !include[p.v]) {
			continue
		}
		out = append(out, p.v)
	}
	return out, nil
}
