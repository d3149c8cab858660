package trust

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// LoadDir reads every file with one of the Extensions in dir (not
// recursively; other files, hidden files and directories are ignored), in
// name order. Certificates come back in file order with their file's base
// name and index. Each file that cannot be read, holds no certificate, or
// holds certificates that do not parse is reported as a *FileError; the
// certificates of the file that did parse are still returned. A dir that
// cannot be listed gives one *FileError and no roots.
func LoadDir(dir string) ([]Root, []error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{&FileError{File: dir, Err: err}}
	}
	var (
		roots []Root
		errs  []error
	)
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || e.IsDir() || !hasExtension(name) {
			continue
		}
		path := filepath.Join(dir, name)
		if e.Type()&os.ModeSymlink != 0 {
			if st, err := os.Stat(path); err == nil && st.IsDir() {
				continue
			}
		}
		certs, err := readFile(path)
		for _, c := range certs {
			roots = append(roots, Root{Cert: c.cert, File: name, Index: c.index})
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return roots, errs
}

// Options say where the trust anchors come from.
type Options struct {
	// PrivateDir is a directory of private roots partners use (see LoadDir); "" for none.
	PrivateDir string
	// RootsFile, when set, replaces the system roots with the certificates of
	// this one file (any format ReadFile reads), for hermetic runs.
	RootsFile string
}

// Store is the set of trust anchors to verify partner chains with.
type Store struct {
	// Pool holds the system roots (or RootsFile's) plus every private root.
	Pool *x509.CertPool
	// Private lists the private roots in LoadDir order.
	Private []Root
	// Warnings are non-fatal problems: unreadable private root files
	// (*FileError) and private roots that are not self-signed or not CAs (*RootWarning).
	Warnings []error

	rootsFile string
	byRaw     map[string]int // Raw -> index in Private
	byKey     map[string]int // RawSubject + RawSubjectPublicKeyInfo -> index in Private
}

// TrustErrors lists, for results.json and the reports, every file that
// was skipped or only partly read (the *FileError warnings), in load order.
func (s *Store) TrustErrors() []audit.TrustError {
	var out []audit.TrustError
	for _, w := range s.Warnings {
		var fe *FileError
		if errors.As(w, &fe) {
			out = append(out, audit.TrustError{File: fe.File, Message: fe.Message()})
		}
	}
	return out
}

// RootWarning reports a private root Go will trust as an anchor although
// other verifiers would not treat it as a root.
type RootWarning struct {
	File    string // base name
	Index   int
	Subject string
	Reason  string
}

func (w *RootWarning) Error() string {
	return fmt.Sprintf("private root %s (certificate %d, %s): %s", w.File, w.Index, w.Subject, w.Reason)
}

// New builds a Store. It fails when RootsFile or the system roots cannot be
// loaded, when RootsFile holds no usable certificate, or when PrivateDir is
// set but is not a readable directory; problems with single private root
// files or certificates are Warnings.
func New(o Options) (*Store, error) {
	s := &Store{rootsFile: o.RootsFile, byRaw: map[string]int{}, byKey: map[string]int{}}
	if o.RootsFile != "" {
		certs, err := ReadFile(o.RootsFile)
		if len(certs) == 0 {
			if err == nil {
				err = &FileError{File: o.RootsFile, Err: ErrNoCertificates}
			}
			return nil, fmt.Errorf("trust: %w", err)
		}
		if err != nil {
			s.Warnings = append(s.Warnings, err)
		}
		s.Pool = x509.NewCertPool()
		for _, c := range certs {
			s.Pool.AddCert(c)
		}
	} else {
		pool, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("trust: system roots: %w", err)
		}
		s.Pool = pool
	}
	if o.PrivateDir != "" {
		st, err := os.Stat(o.PrivateDir)
		if err != nil {
			return nil, fmt.Errorf("trust: private roots: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("trust: private roots %s is not a directory", o.PrivateDir)
		}
		roots, errs := LoadDir(o.PrivateDir)
		s.Warnings = append(s.Warnings, errs...)
		for _, r := range roots {
			s.Warnings = append(s.Warnings, check(r)...)
			s.Pool.AddCert(r.Cert)
			if _, dup := s.byRaw[string(r.Cert.Raw)]; dup {
				continue
			}
			s.byRaw[string(r.Cert.Raw)] = len(s.Private)
			k := identity(r.Cert)
			if _, dup := s.byKey[k]; !dup {
				s.byKey[k] = len(s.Private)
			}
			s.Private = append(s.Private, r)
		}
	}
	return s, nil
}

func identity(c *x509.Certificate) string {
	return string(c.RawSubject) + "\x00" + string(c.RawSubjectPublicKeyInfo)
}

// check warns about a private root that is not self-signed or not a CA.
func check(r Root) []error {
	c := r.Cert
	var out []error
	warn := func(reason string) {
		out = append(out, &RootWarning{File: r.File, Index: r.Index, Subject: c.Subject.String(), Reason: reason})
	}
	if !selfSigned(c) {
		warn(fmt.Sprintf("is not self-signed (issued by %s): Go trusts it as an anchor, but OpenSSL (without -partial_chain) and Windows build the chain on to its issuer", c.Issuer.String()))
	}
	if c.BasicConstraintsValid && !c.IsCA {
		warn("is not a CA certificate (basicConstraints CA:FALSE): Go accepts it as an anchor, Windows and OpenSSL reject chains it issued")
	}
	return out
}

// selfSigned reports whether c names itself as issuer and its signature verifies with its own key.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// StoreOf says where a trust anchor c (the last certificate of a verified
// path) came from: audit.RootPrivate and the file's base name when c is one
// of the private roots, by its bytes or by subject and public key (a
// re-issued copy of the same root); otherwise audit.RootSystem, with the
// RootsFile path in hermetic runs and "" with the system roots. A root that
// is both private and in the system store counts as private.
func (s *Store) StoreOf(c *x509.Certificate) (source, file string) {
	if c != nil {
		if i, ok := s.byRaw[string(c.Raw)]; ok {
			return audit.RootPrivate, s.Private[i].File
		}
		if i, ok := s.byKey[identity(c)]; ok {
			return audit.RootPrivate, s.Private[i].File
		}
	}
	return audit.RootSystem, s.rootsFile
}

// PrivateRoots describes every private root for results.json, sorted by
// NotAfter, then file and index. UsedBy, DeclaredBy and Status are left for
// the caller, which knows the partners.
func (s *Store) PrivateRoots(now time.Time) []audit.PrivateRoot {
	roots := append([]Root(nil), s.Private...)
	sort.SliceStable(roots, func(i, j int) bool {
		a, b := roots[i], roots[j]
		if !a.Cert.NotAfter.Equal(b.Cert.NotAfter) {
			return a.Cert.NotAfter.Before(b.Cert.NotAfter)
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Index < b.Index
	})
	out := make([]audit.PrivateRoot, 0, len(roots))
	for _, r := range roots {
		d := audit.NewCert(r.Cert)
		out = append(out, audit.PrivateRoot{
			File:      r.File,
			Subject:   d.Subject,
			SHA1:      d.SHA1,
			SHA256:    d.SHA256,
			NotBefore: d.NotBefore,
			NotAfter:  d.NotAfter,
			DaysLeft:  audit.DaysLeft(r.Cert.NotAfter, now),
			DER:       r.Cert.Raw,
		})
	}
	return out
}
