package mtapolicy

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// certNames are the names Postfix and Exchange compare: the DNS subject
// alternative names, or the subject CN when there are none.
func certNames(c *x509.Certificate) []string {
	if len(c.DNSNames) > 0 {
		return c.DNSNames
	}
	if c.Subject.CommonName != "" {
		return []string{c.Subject.CommonName}
	}
	return nil
}

func listNames(c *x509.Certificate) string {
	ns := certNames(c)
	if len(ns) == 0 {
		return "no DNS name"
	}
	if len(c.DNSNames) == 0 {
		return "only the CN " + ns[0]
	}
	return strings.Join(ns, ", ")
}

func norm(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }

// postfixMatch reports whether the certificate name id matches a Postfix
// match pattern: ".domain" matches any name under domain (compared as
// text, so a "*.domain" certificate name matches too); a name matches
// itself, or a "*.parent" certificate name for one label (tls_verify.c).
func postfixMatch(id, pattern string) bool {
	id, pattern = norm(id), norm(pattern)
	if strings.HasPrefix(pattern, ".") {
		return len(pattern) > 1 && len(id) > len(pattern) && strings.HasSuffix(id, pattern)
	}
	if id == pattern {
		return true
	}
	if strings.HasPrefix(id, "*.") && len(id) > 2 {
		if i := strings.IndexByte(pattern, '.'); i > 0 && pattern[i:] == id[1:] {
			return true
		}
	}
	return false
}

// expandMatch turns Postfix match strategies into patterns for a target.
func expandMatch(strategies []string, in Input) []string {
	var out []string
	for _, s := range strategies {
		switch strings.ToLower(s) {
		case "hostname":
			out = append(out, in.MXHost)
		case "nexthop":
			out = append(out, in.NextHop)
		case "dot-nexthop":
			out = append(out, "."+in.NextHop)
		default:
			out = append(out, s)
		}
	}
	return out
}

// firstMatch returns the first certificate name matching a pattern.
func firstMatch(c *x509.Certificate, patterns []string) (name, pattern string, ok bool) {
	for _, id := range certNames(c) {
		for _, p := range patterns {
			if postfixMatch(id, p) {
				return id, p, true
			}
		}
	}
	return "", "", false
}

// exchangeMatch reports whether a certificate names domain the way a send
// connector's DomainValidation compares TlsDomain: the name itself, a
// "*.parent" certificate name for one label, and every name under domain
// when TlsDomain is "*.domain".
func exchangeMatch(c *x509.Certificate, domain string) (string, bool) {
	d := norm(domain)
	for _, id := range certNames(c) {
		n := norm(id)
		switch {
		case strings.HasPrefix(d, "*."):
			if strings.HasSuffix(n, d[1:]) {
				return id, true
			}
		case n == d:
			return id, true
		case strings.HasPrefix(n, "*."):
			if i := strings.IndexByte(d, '.'); i > 0 && d[i:] == n[1:] {
				return id, true
			}
		}
	}
	return "", false
}

// digestFor returns the hash Postfix's smtp_tls_fingerprint_digest names.
func digestFor(name string) (func() hash.Hash, error) {
	switch strings.ToLower(name) {
	case "md5":
		return md5.New, nil
	case "sha1":
		return sha1.New, nil
	case "sha224":
		return sha256.New224, nil
	case "sha256":
		return sha256.New, nil
	case "sha384":
		return sha512.New384, nil
	case "sha512":
		return sha512.New, nil
	}
	return nil, fmt.Errorf("unsupported smtp_tls_fingerprint_digest %q", name)
}

// NormalizeFingerprint reads a fingerprint in either form ("AB:CD:..." as
// openssl prints it, or plain hex) into lower-case hex.
func NormalizeFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if _, err := hex.DecodeString(h); err != nil || h == "" {
		return "", fmt.Errorf("fingerprint %q is not hexadecimal", s)
	}
	return h, nil
}

// Fingerprint is "AB:CD:..." of data under the digest, as openssl and Postfix print it.
func Fingerprint(digest string, data []byte) (string, error) {
	nh, err := digestFor(digest)
	if err != nil {
		return "", err
	}
	h := nh()
	h.Write(data)
	sum := strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
	var b strings.Builder
	for i := 0; i < len(sum); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(sum[i : i+2])
	}
	return b.String(), nil
}

func digestName(n int) string {
	switch n {
	case 16:
		return "md5"
	case 20:
		return "sha1"
	case 28:
		return "sha224"
	case 32:
		return "sha256"
	case 48:
		return "sha384"
	case 64:
		return "sha512"
	}
	return fmt.Sprintf("%d-byte", n)
}
