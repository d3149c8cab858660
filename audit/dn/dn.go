// Package dn parses and compares X.500 distinguished names the way mail
// administrators write them: as Windows prints them (`CN=x, O=y, S=WA, C=US`),
// as Go's pkix.Name.String() prints them (`CN=x,O=y,ST=WA,C=US`) and as
// OpenSSL prints them (`/C=US/O=y/CN=x` or `C = US, O = y, CN = x`), and it
// formats names in Windows' spelling for Exchange's TlsCertificateName pin
// `<I>issuer<S>subject`.
//
// Names are compared as multisets of (type, value) pairs, never as strings.
package dn

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
)

// Attr is one attribute of a distinguished name.
type Attr struct {
	Type  string // canonical upper-case short name (CN, O, OU, L, ST, C, E, DC, ...) or a dotted OID
	Value string
}

// Name is a distinguished name as a list of attributes, most specific first
// (the order Windows, RFC 4514 and Go print: CN before O before C).
// Multi-valued RDNs are flattened.
type Name []Attr

// SyntaxError reports a distinguished name that cannot be parsed.
type SyntaxError struct {
	Input  string // the whole input
	Offset int    // byte offset of the problem in Input
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("distinguished name %q: at offset %d: %s", e.Input, e.Offset, e.Msg)
}

// Parse parses a distinguished name in Windows, RFC 4514 / Go, or OpenSSL
// (slash or `C = US, O = y` one-line) form. A leading "subject=" or
// "issuer=" as OpenSSL prints it is ignored. Values may be quoted
// (`O="Foo, Inc."`, with `""` for a quote and backslashes literal inside quotes), backslash-escaped (`\,`,
// `\2C`) or, for unknown types, `#` followed by hex BER as Go prints them.
// The OpenSSL slash form lists attributes least specific first; Parse
// reverses it so that every Name is most specific first.
func Parse(s string) (Name, error) {
	in := s
	off := 0
	trimmed := strings.TrimLeft(s, " \t\r\n")
	off += len(s) - len(trimmed)
	s = trimmed
	for _, p := range []string{"subject=", "issuer=", "subject:", "issuer:"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			t := strings.TrimLeft(s[len(p):], " \t")
			off += len(s) - len(t)
			s = t
			break
		}
	}
	if strings.TrimSpace(s) == "" {
		return nil, &SyntaxError{in, off, "empty distinguished name"}
	}
	p := parser{in: in, s: s, base: off}
	if s[0] == '/' {
		n, err := p.slash()
		if err != nil {
			return nil, err
		}
		for i, j := 0, len(n)-1; i < j; i, j = i+1, j-1 {
			n[i], n[j] = n[j], n[i]
		}
		return n, nil
	}
	return p.commas()
}

type parser struct {
	in   string // original input, for errors
	s    string // the part being parsed
	base int    // offset of s in in
}

func (p *parser) errf(at int, format string, args ...any) error {
	return &SyntaxError{p.in, p.base + at, fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// attrType reads `type =` at i and returns the canonical type and the index after '='.
func (p *parser) attrType(i int, stop string) (string, int, error) {
	start := i
	for i < len(p.s) && p.s[i] != '=' {
		if strings.IndexByte(stop, p.s[i]) >= 0 {
			break
		}
		i++
	}
	raw := strings.TrimSpace(p.s[start:i])
	if i >= len(p.s) || p.s[i] != '=' {
		if raw == "" {
			return "", 0, p.errf(start, "expected TYPE=value")
		}
		return "", 0, p.errf(start, "%q is not TYPE=value (quote values containing separators, e.g. O=\"Foo, Inc.\")", raw)
	}
	t, ok := CanonicalType(raw)
	if !ok {
		if raw == "" {
			return "", 0, p.errf(start, "missing attribute type before '='")
		}
		return "", 0, p.errf(start, "%q is not an attribute type", raw)
	}
	return t, i + 1, nil
}

// commas parses the RFC 4514 / Windows / OpenSSL one-line form.
func (p *parser) commas() (Name, error) {
	var n Name
	i := 0
	for {
		t, j, err := p.attrType(i, ",;+")
		if err != nil {
			return nil, err
		}
		v, k, err := p.value(j)
		if err != nil {
			return nil, err
		}
		n = append(n, Attr{t, v})
		if k >= len(p.s) {
			return n, nil
		}
		// p.s[k] is a separator.
		i = k + 1
		if strings.TrimSpace(p.s[i:]) == "" {
			return nil, p.errf(k, "nothing after %q", p.s[k])
		}
	}
}

// value reads a value starting at i (after '=') up to an unescaped separator
// outside quotes or the end; it returns the value and the index of the
// separator (or len(s)).
func (p *parser) value(i int) (string, int, error) {
	s := p.s
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i < len(s) && s[i] == '"' {
		return p.quoted(i)
	}
	if i < len(s) && s[i] == '#' {
		end := i + 1
		for end < len(s) && isHex(s[end]) {
			end++
		}
		k := end
		for k < len(s) && isSpace(s[k]) {
			k++
		}
		if end > i+1 && (k == len(s) || isSep(s[k])) {
			if v, ok := decodeBER(s[i+1 : end]); ok {
				return v, k, nil
			}
		}
		// Not hex BER: a literal '#'.
	}
	var b strings.Builder
	keep := 0 // length of b up to the last character that is not unescaped trailing space
	for i < len(s) && !isSep(s[i]) {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				x, _ := hex.DecodeString(s[i+1 : i+3])
				b.WriteByte(x[0])
				i += 3
				keep = b.Len()
				continue
			}
			if strings.IndexByte(`,;+"\<>=# /`, s[i+1]) >= 0 {
				b.WriteByte(s[i+1])
				i += 2
				keep = b.Len()
				continue
			}
			// A lone backslash (as in DOMAIN\user) is kept literally.
		}
		b.WriteByte(c)
		if !isSpace(c) {
			keep = b.Len()
		}
		i++
	}
	return b.String()[:keep], i, nil
}

// quoted reads a double-quoted value at i. As in Windows, a quote inside is
// doubled and a backslash is literal.
func (p *parser) quoted(i int) (string, int, error) {
	s := p.s
	open := i
	i++
	var b strings.Builder
	for {
		if i >= len(s) {
			return "", 0, p.errf(open, "unterminated quoted value")
		}
		c := s[i]
		if c == '"' {
			if i+1 < len(s) && s[i+1] == '"' { // Windows doubles quotes
				b.WriteByte('"')
				i += 2
				continue
			}
			i++
			break
		}
		b.WriteByte(c)
		i++
	}
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i < len(s) && !isSep(s[i]) {
		return "", 0, p.errf(i, "unexpected %q after quoted value", s[i])
	}
	return b.String(), i, nil
}

func isSep(c byte) bool { return c == ',' || c == ';' || c == '+' }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// slash parses OpenSSL's `/C=US/O=y/CN=x` form. A '/' or '+' starts a new
// attribute only when TYPE= follows it, because this form does not escape
// slashes inside values.
func (p *parser) slash() (Name, error) {
	s := p.s
	var n Name
	i := 1
	for {
		t, j, err := p.attrType(i, "/")
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		k := j
		for k < len(s) {
			if (s[k] == '/' || s[k] == '+') && p.attrStart(k+1) {
				break
			}
			if s[k] == '\\' && k+1 < len(s) && (s[k+1] == '/' || s[k+1] == '+' || s[k+1] == '\\') {
				b.WriteByte(s[k+1])
				k += 2
				continue
			}
			b.WriteByte(s[k])
			k++
		}
		n = append(n, Attr{t, strings.TrimSpace(b.String())})
		if k >= len(s) {
			return n, nil
		}
		i = k + 1
	}
}

// attrStart reports whether s[i:] begins with an attribute type and '='.
func (p *parser) attrStart(i int) bool {
	eq := strings.IndexByte(p.s[i:], '=')
	if eq < 0 {
		return false
	}
	raw := strings.TrimSpace(p.s[i : i+eq])
	if raw == "" || strings.ContainsAny(raw, "/+ ") {
		return false
	}
	_, ok := CanonicalType(raw)
	return ok
}

// decodeBER decodes the hex BER of an attribute value as Go prints unknown
// attributes (`1.2.840.113549.1.9.1=#16...`). String types become their text;
// anything else stays "#" + lower-case hex. It returns false when h is not
// the hex of exactly one BER value, and the '#' is then taken literally.
func decodeBER(h string) (string, bool) {
	b, err := hex.DecodeString(h)
	if err != nil {
		return "", false
	}
	var rv asn1.RawValue
	rest, err := asn1.Unmarshal(b, &rv)
	if err != nil || len(rest) > 0 {
		return "", false
	}
	if s, ok := berString(rv); ok {
		return s, true
	}
	return "#" + strings.ToLower(h), true
}

// berString returns the text of an ASN.1 string value.
func berString(rv asn1.RawValue) (string, bool) {
	if rv.Class != asn1.ClassUniversal {
		return "", false
	}
	switch rv.Tag {
	case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagT61String, asn1.TagIA5String,
		asn1.TagNumericString, 26 /* VisibleString */ :
		return string(rv.Bytes), true
	case asn1.TagBMPString:
		if len(rv.Bytes)%2 != 0 {
			return "", false
		}
		r := make([]rune, 0, len(rv.Bytes)/2)
		for i := 0; i < len(rv.Bytes); i += 2 {
			r = append(r, rune(rv.Bytes[i])<<8|rune(rv.Bytes[i+1]))
		}
		return string(r), true
	}
	return "", false
}

// FromPKIX converts a pkix.Name, most specific first. It uses the parsed
// attribute list (Names) when present, so that attributes Go has no field
// for (email, DC, UID...) are kept, plus any ExtraNames not already in it;
// a Name built by hand (no Names) is converted through ToRDNSequence.
// Prefer it to parsing pkix.Name.String(), which keeps only one CN and one
// SERIALNUMBER: a real Windows root ("Posta CA Root") has five CNs.
func FromPKIX(n pkix.Name) Name {
	var atvs []pkix.AttributeTypeAndValue
	if len(n.Names) > 0 {
		atvs = append(atvs, n.Names...)
	extra:
		for _, e := range n.ExtraNames {
			for _, a := range n.Names {
				if a.Type.Equal(e.Type) && a.Value == e.Value {
					continue extra
				}
			}
			atvs = append(atvs, e)
		}
	} else {
		for _, rdn := range n.ToRDNSequence() {
			atvs = append(atvs, rdn...)
		}
	}
	out := make(Name, 0, len(atvs))
	for i := len(atvs) - 1; i >= 0; i-- {
		out = append(out, Attr{typeFromOID(atvs[i].Type), valueString(atvs[i].Value)})
	}
	return out
}

// valueString renders an attribute value; non-strings become "#" + hex DER.
func valueString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := asn1.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var rv asn1.RawValue
	if _, err := asn1.Unmarshal(b, &rv); err == nil {
		if s, ok := berString(rv); ok {
			return s
		}
	}
	return "#" + hex.EncodeToString(b)
}

// Match reports whether a and b hold the same multiset of (type, value)
// pairs. Order does not matter; types are compared canonically (S = ST,
// EMAIL = E, OID.2.5.4.3 = CN); values are compared after trimming
// surrounding white space, case-insensitively (Unicode simple folding).
// Two empty names match.
func Match(a, b Name) bool {
	if len(a) != len(b) {
		return false
	}
	count := make(map[string]int, len(a))
	for _, x := range a {
		count[matchKey(x)]++
	}
	for _, x := range b {
		k := matchKey(x)
		if count[k] == 0 {
			return false
		}
		count[k]--
	}
	return true
}

func matchKey(a Attr) string {
	t, ok := CanonicalType(a.Type)
	if !ok {
		t = a.Type
	}
	return t + "\x00" + strings.ToLower(strings.ToUpper(strings.TrimSpace(a.Value)))
}

// String formats n in Windows' spelling and order as given (n is most
// specific first): `CN=x, OU=y, O=z, S=WA, C=US`. Values containing
// separators, quotes, '<', '>', '#', '=', '\' or surrounding white space are
// quoted, with embedded quotes doubled, as CertNameToStr does.
func (n Name) String() string {
	var b strings.Builder
	for i, a := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(windowsType(a.Type))
		b.WriteByte('=')
		b.WriteString(windowsQuote(a.Value))
	}
	return b.String()
}

func windowsQuote(v string) string {
	if v != "" && !strings.ContainsAny(v, ",+=\"\\<>#;\r\n") && strings.TrimSpace(v) == v {
		return v
	}
	return `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
}

// Windows formats a pkix.Name as Windows prints it: most specific first,
// comma-space separated, S= for the state and E= for the e-mail address,
// e.g. `CN=mail.example.com, O=Example, S=WA, C=US`.
func Windows(n pkix.Name) string {
	return FromPKIX(n).String()
}

// TLSCertificateName returns Exchange's connector pin for a certificate:
// `<I>issuer<S>subject`, both in Windows format.
func TLSCertificateName(issuer, subject pkix.Name) string {
	return "<I>" + Windows(issuer) + "<S>" + Windows(subject)
}

// ParsePin parses Exchange's TlsCertificateName form `<I>issuer<S>subject`
// (markers case-insensitive). Either part may be absent (`<S>CN=x` or
// `<I>CN=ca`), and is then returned as nil; at least one must be present.
func ParsePin(s string) (issuer, subject Name, err error) {
	t := strings.TrimSpace(s)
	hasI := len(t) >= 3 && strings.EqualFold(t[:3], "<I>")
	if !hasI && !(len(t) >= 3 && strings.EqualFold(t[:3], "<S>")) {
		return nil, nil, fmt.Errorf("TLS certificate name %q: must start with <I>issuer or <S>subject", s)
	}
	var is, ss string
	if hasI {
		rest := t[3:]
		if k := findSubjectMarker(rest); k >= 0 {
			is, ss = rest[:k], rest[k+3:]
		} else {
			is = rest
		}
	} else {
		ss = t[3:]
	}
	if strings.TrimSpace(is) == "" && strings.TrimSpace(ss) == "" {
		return nil, nil, fmt.Errorf("TLS certificate name %q: both issuer and subject are empty", s)
	}
	if strings.TrimSpace(is) != "" {
		if issuer, err = Parse(is); err != nil {
			return nil, nil, fmt.Errorf("TLS certificate name issuer: %w", err)
		}
	}
	if strings.TrimSpace(ss) != "" {
		if subject, err = Parse(ss); err != nil {
			return nil, nil, fmt.Errorf("TLS certificate name subject: %w", err)
		}
	}
	return issuer, subject, nil
}

// IsPin reports whether s looks like an Exchange `<I>..<S>..` pin.
func IsPin(s string) bool {
	t := strings.TrimSpace(s)
	return len(t) >= 3 && (strings.EqualFold(t[:3], "<I>") || strings.EqualFold(t[:3], "<S>"))
}

// findSubjectMarker finds "<S>" outside quotes and escapes.
func findSubjectMarker(s string) int {
	inQ := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && !inQ:
			i++
		case s[i] == '"':
			inQ = !inQ
		case !inQ && s[i] == '<' && i+2 < len(s) && (s[i+1] == 'S' || s[i+1] == 's') && s[i+2] == '>':
			return i
		}
	}
	return -1
}
