package trust

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/regfile"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// pki is a small generated hierarchy: a root, an intermediate under it, a
// leaf under the intermediate, and a self-signed non-CA certificate.
type pki struct {
	root, inter, leaf, selfLeaf *x509.Certificate
	rootKey                     crypto.Signer
}

// caSpec is a CA of the tests' organisation, valid from a year before now for five years.
func caSpec(cn string) fleet.CertSpec {
	return fleet.CertSpec{CommonName: cn, Org: "mxaudit test", NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(5, 0, 0)}
}

func newRoot(t testing.TB, s fleet.CertSpec) *fleet.CA {
	t.Helper()
	ca, err := fleet.NewRoot(s)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func newPKI(t testing.TB, name string) *pki {
	t.Helper()
	root := newRoot(t, caSpec(name+" Root"))
	inter, err := root.SubCA(caSpec(name + " Issuing CA"))
	if err != nil {
		t.Fatal(err)
	}
	host := "mx." + strings.ToLower(name) + ".example"
	leaf, err := inter.Issue(fleet.CertSpec{CommonName: host, DNSNames: []string{host}, NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(5, 0, 0), NoBasicConstraints: true})
	if err != nil {
		t.Fatal(err)
	}
	self, err := fleet.SelfSigned(fleet.CertSpec{CommonName: "self." + strings.ToLower(name) + ".example", NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(5, 0, 0), ExtKeyUse: []x509.ExtKeyUsage{}})
	if err != nil {
		t.Fatal(err)
	}
	return &pki{root: root.Cert, inter: inter.Cert, leaf: leaf.Cert, selfLeaf: self.Cert, rootKey: root.Key}
}

func pemOf(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func p7Of(t testing.TB, ders ...[]byte) []byte {
	t.Helper()
	b, err := pkcs7.DegenerateCertificate(bytes.Join(ders, nil))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sstOf writes a Windows serialized store: for each element, two property
// records (friendly name, SHA-1 hash) before the certificate, as Windows does.
func sstOf(ders ...[]byte) []byte {
	var b bytes.Buffer
	rec := func(id uint32, data []byte) {
		var h [12]byte
		binary.LittleEndian.PutUint32(h[0:], id)
		binary.LittleEndian.PutUint32(h[4:], 1)
		binary.LittleEndian.PutUint32(h[8:], uint32(len(data)))
		b.Write(h[:])
		b.Write(data)
	}
	b.Write([]byte{0, 0, 0, 0, 'C', 'E', 'R', 'T'})
	for _, d := range ders {
		rec(11, []byte("n\x00a\x00m\x00e\x00\x00\x00"))
		s := sha1.Sum(d)
		rec(3, s[:])
		rec(32, d)
	}
	rec(33, []byte{0x30, 0x00}) // a CRL element, skipped
	b.Write(make([]byte, 12))   // end
	return b.Bytes()
}

func write(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// notACert is valid DER that is not a certificate.
var notACert, _ = asn1.Marshal(struct{ A, B int }{1, 2})

func certErrors(err error) []*CertError {
	var out []*CertError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if ce, ok := e.(*CertError); ok {
			out = append(out, ce)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		walk(errors.Unwrap(e))
	}
	walk(err)
	return out
}

func subjects(certs []*x509.Certificate) string {
	var s []string
	for _, c := range certs {
		s = append(s, c.Subject.CommonName)
	}
	return strings.Join(s, "|")
}

// TestReadFormats writes generated certificates in every format and reads them back.
func TestReadFormats(t *testing.T) {
	p := newPKI(t, "Contoso")
	dir := t.TempDir()
	opensslText := "Certificate:\n    Data:\n        Version: 3 (0x2)\n        Subject: CN = Contoso Root\n" + string(pemOf(p.root)) + "trailing notes\n"
	trusted := append(append([]byte(nil), p.root.Raw...), 0x30, 0x03, 0x06, 0x01, 0x00) // cert + OpenSSL aux trust
	tests := []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"pem", "root.pem", pemOf(p.root), "Contoso Root"},
		{"pem with openssl -text around it", "root-text.crt", []byte(opensslText), "Contoso Root"},
		{"pem two blocks", "chain.pem", pemOf(p.inter, p.root), "Contoso Issuing CA|Contoso Root"},
		{"pem crlf", "crlf.cer", bytes.ReplaceAll(pemOf(p.root, p.inter), []byte("\n"), []byte("\r\n")), "Contoso Root|Contoso Issuing CA"},
		{"pem trusted certificate", "trusted.pem", pem.EncodeToMemory(&pem.Block{Type: "TRUSTED CERTIFICATE", Bytes: trusted}), "Contoso Root"},
		{"der", "root.der", p.root.Raw, "Contoso Root"},
		{"der named .pem", "actually-der.pem", p.root.Raw, "Contoso Root"},
		{"base64 without armour", "bare.cer", []byte(base64.StdEncoding.EncodeToString(p.root.Raw) + "\n"), "Contoso Root"},
		{"pkcs7 der", "bundle.p7b", p7Of(t, p.root.Raw, p.inter.Raw), "Contoso Root|Contoso Issuing CA"},
		{"pkcs7 pem", "bundle.p7c", pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: p7Of(t, p.root.Raw, p.inter.Raw)}), "Contoso Root|Contoso Issuing CA"},
		{"pem cert then pkcs7", "mixed.pem", append(pemOf(p.leaf), pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: p7Of(t, p.root.Raw)})...), "mx.contoso.example|Contoso Root"},
		{"sst", "roots.sst", sstOf(p.root.Raw, p.inter.Raw), "Contoso Root|Contoso Issuing CA"},
		{"sst named .p7b", "really-sst.p7b", sstOf(p.root.Raw), "Contoso Root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, dir, tt.file, tt.data)
			certs, err := ReadFile(path)
			if err != nil {
				t.Fatalf("ReadFile: %v", err)
			}
			if got := subjects(certs); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestReadErrors checks that unreadable files and certificates are reported by name and index.
func TestReadErrors(t *testing.T) {
	p := newPKI(t, "Fabrikam")
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	badSST := sstOf(p.root.Raw, notACert, p.inter.Raw)
	truncSST := sstOf(p.root.Raw, p.inter.Raw)
	truncSST = truncSST[:len(truncSST)-12-14-100] // cut into the second certificate
	tests := []struct {
		name, file string
		data       []byte
		wantCerts  string
		wantErr    string
		wantIdx    []int // indexes of *CertError
	}{
		{"garbage", "corrupt.crt", []byte("this is not a certificate"), "", "not a certificate file", nil},
		{"empty", "empty.cer", nil, "", "empty file", nil},
		{"bad der", "bad.der", []byte{0x30, 0x03, 0x02, 0x01}, "", "certificate 0", []int{0}},
		{"pem begin without end", "trunc.pem", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n"), "", "no valid PEM block", nil},
		{"pem key only", "key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), "", "PEM blocks found: PRIVATE KEY", nil},
		{"pem one bad block of three", "three.pem", append(append(pemOf(p.root), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: notACert})...), pemOf(p.inter)...), "Fabrikam Root|Fabrikam Issuing CA", "certificate 1", []int{1}},
		{"pkcs7 one bad certificate", "bad.p7b", p7Of(t, p.root.Raw, notACert, p.inter.Raw), "Fabrikam Root|Fabrikam Issuing CA", "certificate 1", []int{1}},
		{"sst one bad certificate", "bad.sst", badSST, "Fabrikam Root|Fabrikam Issuing CA", "certificate 1 (offset", []int{1}},
		{"sst truncated", "trunc.sst", truncSST, "Fabrikam Root", "only", nil},
		{"sst header only", "header.sst", []byte{0, 0, 0, 0, 'C', 'E', 'R', 'T'}, "", "no certificates", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, dir, tt.file, tt.data)
			certs, err := ReadFile(path)
			var fe *FileError
			if !errors.As(err, &fe) || fe.File != path {
				t.Fatalf("error = %v (%T), want *FileError for %s", err, err, path)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.file) {
				t.Errorf("error %q does not contain %q and the file name", err, tt.wantErr)
			}
			if got := subjects(certs); got != tt.wantCerts {
				t.Errorf("certificates %q, want %q", got, tt.wantCerts)
			}
			var idx []int
			for _, ce := range certErrors(err) {
				idx = append(idx, ce.Index)
			}
			if len(idx) != len(tt.wantIdx) || (len(idx) > 0 && idx[0] != tt.wantIdx[0]) {
				t.Errorf("CertError indexes %v, want %v", idx, tt.wantIdx)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := ReadFile(filepath.Join(dir, "nope.cer"))
		var fe *FileError
		if !errors.As(err, &fe) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error = %v", err)
		}
	})
}

// TestWindowsUpdateSST reads a real Windows export (certutil -generateSSTFromWU).
func TestWindowsUpdateSST(t *testing.T) {
	const path = "testdata/windows-update-roots.sst" // copied from the project lead's shared/testdata
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Count certificate records independently of the reader.
	records := 0
	for off := 8; off+12 <= len(data); {
		id, n := binary.LittleEndian.Uint32(data[off:]), binary.LittleEndian.Uint32(data[off+8:])
		if id == 0 {
			break
		}
		if id == 32 {
			records++
		}
		off += 12 + int(n)
	}
	if records != 434 {
		t.Fatalf("counted %d certificate records, want 434", records)
	}
	certs, err := ReadSST(data)
	bad := certErrors(err)
	if len(certs)+len(bad) != records {
		t.Fatalf("%d parsed + %d reported != %d records (err: %v)", len(certs), len(bad), records, err)
	}
	// go.mod sets `godebug x509negativeserial=1` because real root stores hold
	// a root with a negative serial number; without it that one is reported.
	if goModHasNegativeSerial(t) {
		if len(certs) != 434 || err != nil {
			t.Fatalf("parsed %d certificates, want 434 (err: %v)", len(certs), err)
		}
		neg := 0
		for _, c := range certs {
			if c.SerialNumber.Sign() < 0 {
				neg++
			}
		}
		if neg != 1 {
			t.Errorf("%d certificates with a negative serial, want 1", neg)
		}
	} else {
		if len(bad) != 1 || bad[0].Index != 364 || !strings.Contains(bad[0].Error(), "negative serial") {
			t.Fatalf("want certificate 364 reported for its negative serial, got %v", err)
		}
	}
	seen := map[string]bool{}
	for _, c := range certs {
		seen[string(c.Raw)] = true
	}
	if len(seen) != len(certs) {
		t.Errorf("%d distinct certificates among %d", len(seen), len(certs))
	}
}

func goModHasNegativeSerial(t *testing.T) bool {
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Join(strings.Fields(l), " ") == "godebug x509negativeserial=1" {
			return true
		}
	}
	return false
}

// TestLoadDir checks which files are read, the order, indexes and the errors by file name.
func TestLoadDir(t *testing.T) {
	p, q := newPKI(t, "Contoso"), newPKI(t, "Fabrikam")
	dir := t.TempDir()
	write(t, dir, "b-contoso.pem", pemOf(p.root, p.inter))
	write(t, dir, "A-FABRIKAM.CER", q.root.Raw)
	write(t, dir, "c-bundle.p7b", p7Of(t, q.inter.Raw))
	write(t, dir, "d-store.sst", sstOf(p.leaf.Raw))
	write(t, dir, "e-corrupt.crt", []byte("garbage"))
	write(t, dir, "README.txt", []byte("roots for partners"))
	write(t, dir, ".hidden.pem", []byte("garbage"))
	write(t, dir, "notes.key", []byte("garbage"))
	if err := os.Mkdir(filepath.Join(dir, "sub.pem"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "sub.pem"), "deep.pem", pemOf(q.leaf))

	roots, errs := LoadDir(dir)
	var got []string
	for _, r := range roots {
		got = append(got, r.File+"#"+string(rune('0'+r.Index))+":"+r.Cert.Subject.CommonName)
	}
	want := []string{
		"A-FABRIKAM.CER#0:Fabrikam Root",
		"b-contoso.pem#0:Contoso Root", "b-contoso.pem#1:Contoso Issuing CA",
		"c-bundle.p7b#0:Fabrikam Issuing CA",
		"d-store.sst#0:mx.contoso.example",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("roots:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(errs) != 1 {
		t.Fatalf("errors = %v, want one for e-corrupt.crt", errs)
	}
	var fe *FileError
	if !errors.As(errs[0], &fe) || filepath.Base(fe.File) != "e-corrupt.crt" || !errors.Is(errs[0], ErrUnknownFormat) {
		t.Errorf("error = %v", errs[0])
	}

	_, errs = LoadDir(filepath.Join(dir, "missing"))
	if len(errs) != 1 || !errors.Is(errs[0], os.ErrNotExist) {
		t.Errorf("missing dir: %v", errs)
	}
}

func verifies(pool *x509.CertPool, p *pki) bool {
	inter := x509.NewCertPool()
	inter.AddCert(p.inter)
	_, err := p.leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now})
	return err == nil
}

// TestStoreHermetic builds a Store from a roots file plus private roots.
func TestStoreHermetic(t *testing.T) {
	public, private, other := newPKI(t, "Public"), newPKI(t, "Private"), newPKI(t, "Other")
	dir := t.TempDir()
	rootsFile := write(t, dir, "roots.sst", sstOf(public.root.Raw))
	privDir := filepath.Join(dir, "private")
	if err := os.Mkdir(privDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, privDir, "private.pem", pemOf(private.root))
	write(t, privDir, "broken.cer", []byte("garbage"))

	s, err := New(Options{PrivateDir: privDir, RootsFile: rootsFile})
	if err != nil {
		t.Fatal(err)
	}
	if !verifies(s.Pool, public) || !verifies(s.Pool, private) {
		t.Error("chains under the roots file and the private root do not verify")
	}
	if verifies(s.Pool, other) {
		t.Error("a chain under a root in neither place verifies")
	}
	tests := []struct {
		name           string
		cert           *x509.Certificate
		wantSrc, wantF string
	}{
		{"private root", private.root, audit.RootPrivate, "private.pem"},
		{"re-issued private root", reissue(t, private), audit.RootPrivate, "private.pem"},
		{"roots file", public.root, audit.RootSystem, rootsFile},
		{"same subject other key", sameSubjectOtherKey(t, private.root), audit.RootSystem, rootsFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, f := s.StoreOf(tt.cert)
			if src != tt.wantSrc || f != tt.wantF {
				t.Errorf("Source = %s, %q; want %s, %q", src, f, tt.wantSrc, tt.wantF)
			}
		})
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0].Error(), "broken.cer") {
		t.Errorf("warnings = %v, want broken.cer reported", s.Warnings)
	}
}

// reissue returns a new certificate for p's root: same subject and key, new serial and validity.
func reissue(t *testing.T, p *pki) *x509.Certificate {
	s := caSpec(p.root.Subject.CommonName)
	s.NotBefore, s.NotAfter, s.Key = now.AddDate(0, -1, 0), now.AddDate(10, 0, 0), p.rootKey
	c := newRoot(t, s).Cert
	if bytes.Equal(c.Raw, p.root.Raw) || !bytes.Equal(c.RawSubject, p.root.RawSubject) {
		t.Fatal("reissue did not make a distinct certificate with the same subject")
	}
	return c
}

func sameSubjectOtherKey(t *testing.T, root *x509.Certificate) *x509.Certificate {
	return newRoot(t, caSpec(root.Subject.CommonName)).Cert
}

// TestStoreWarnings checks the private roots that Go trusts differently from OpenSSL and Windows.
func TestStoreWarnings(t *testing.T) {
	p := newPKI(t, "Contoso")
	dir := t.TempDir()
	rootsFile := write(t, dir, "roots.pem", pemOf(p.root))
	priv := filepath.Join(dir, "private")
	os.Mkdir(priv, 0o755)
	write(t, priv, "intermediate.cer", p.inter.Raw)
	write(t, priv, "self-leaf.pem", pemOf(p.selfLeaf))
	write(t, priv, "good.pem", pemOf(p.root))

	s, err := New(Options{PrivateDir: priv, RootsFile: rootsFile})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, w := range s.Warnings {
		var rw *RootWarning
		if !errors.As(w, &rw) {
			t.Errorf("warning %v is not a *RootWarning", w)
			continue
		}
		msgs = append(msgs, rw.File+": "+rw.Reason)
	}
	if len(msgs) != 2 || !strings.HasPrefix(msgs[0], "intermediate.cer: is not self-signed") || !strings.HasPrefix(msgs[1], "self-leaf.pem: is not a CA") {
		t.Errorf("warnings:\n%s", strings.Join(msgs, "\n"))
	}
	if len(s.Private) != 3 {
		t.Errorf("%d private roots, want 3 (warnings do not drop them)", len(s.Private))
	}
}

func TestStoreErrors(t *testing.T) {
	dir := t.TempDir()
	empty := write(t, dir, "empty.pem", []byte("no certs here\n"))
	file := write(t, dir, "file.pem", pemOf(newPKI(t, "X").root))
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"roots file missing", Options{RootsFile: filepath.Join(dir, "nope.pem")}, "nope.pem"},
		{"roots file without certificates", Options{RootsFile: empty}, "empty.pem"},
		{"private dir missing", Options{RootsFile: file, PrivateDir: filepath.Join(dir, "nope")}, "nope"},
		{"private dir is a file", Options{RootsFile: file, PrivateDir: file}, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.o)
			if err == nil || s != nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, %v; want error containing %q", s, err, tt.want)
			}
		})
	}
}

// TestSystemRoots runs a child test process with SSL_CERT_FILE pointing at a
// generated root, since the system pool is loaded once per process.
func TestSystemRoots(t *testing.T) {
	if os.Getenv("TRUST_TEST_CHILD") != "" {
		systemRootsChild(t)
		return
	}
	p := newPKI(t, "System")
	dir := t.TempDir()
	certFile := write(t, dir, "system.pem", pemOf(p.root))
	leafFile := write(t, dir, "chain.pem", pemOf(p.leaf, p.inter))
	cmd := exec.Command(os.Args[0], "-test.run=^TestSystemRoots$", "-test.v")
	cmd.Env = append(os.Environ(), "TRUST_TEST_CHILD="+leafFile, "SSL_CERT_FILE="+certFile, "SSL_CERT_DIR="+dir+"/none")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("child ok")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func systemRootsChild(t *testing.T) {
	certs, err := ReadFile(os.Getenv("TRUST_TEST_CHILD"))
	if err != nil || len(certs) != 2 {
		t.Fatal(certs, err)
	}
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	inter.AddCert(certs[1])
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: s.Pool, Intermediates: inter, CurrentTime: now})
	if err != nil {
		t.Fatalf("chain under SSL_CERT_FILE root does not verify: %v", err)
	}
	anchor := chains[0][len(chains[0])-1]
	if src, f := s.StoreOf(anchor); src != audit.RootSystem || f != "" {
		t.Fatalf("Source = %s, %q", src, f)
	}
	t.Log("child ok")
}

func TestPrivateRoots(t *testing.T) {
	dir := t.TempDir()
	rootsFile := write(t, dir, "roots.pem", pemOf(newPKI(t, "Public").root))
	priv := filepath.Join(dir, "private")
	os.Mkdir(priv, 0o755)
	mk := func(cn string, notAfter time.Time) *x509.Certificate {
		s := caSpec(cn)
		s.NotBefore, s.NotAfter = now.AddDate(-2, 0, 0), notAfter
		return newRoot(t, s).Cert
	}
	late := mk("Late", now.AddDate(3, 0, 0))
	early := mk("Early", now.Add(-36*time.Hour)) // expired a day and a half ago
	same1, same2 := mk("Same A", now.AddDate(1, 0, 0)), mk("Same B", now.AddDate(1, 0, 0))
	write(t, priv, "z-late.pem", pemOf(late))
	write(t, priv, "y-early.cer", early.Raw)
	write(t, priv, "b-same.pem", pemOf(same2))
	write(t, priv, "a-same.pem", pemOf(same1))
	write(t, priv, "dup-of-late.cer", late.Raw) // the same root twice counts once (first file wins)

	s, err := New(Options{PrivateDir: priv, RootsFile: rootsFile})
	if err != nil {
		t.Fatal(err)
	}
	got := s.PrivateRoots(now)
	var order []string
	for _, r := range got {
		order = append(order, r.File)
	}
	if strings.Join(order, " ") != "y-early.cer a-same.pem b-same.pem dup-of-late.cer" {
		t.Errorf("order = %v", order)
	}
	e := got[0]
	sum := sha1.Sum(early.Raw)
	if e.SHA1 != strings.ToUpper(hex.EncodeToString(sum[:])) || len(e.SHA256) != 64 || e.SHA256 != strings.ToUpper(e.SHA256) {
		t.Errorf("thumbprints %s %s", e.SHA1, e.SHA256)
	}
	if e.DaysLeft != -2 || !e.NotAfter.Equal(early.NotAfter) || !e.NotBefore.Equal(early.NotBefore) || !bytes.Equal(e.DER, early.Raw) {
		t.Errorf("early root = %+v", e)
	}
	if e.Subject != early.Subject.String() {
		t.Errorf("subject %q", e.Subject)
	}
	if src, f := s.StoreOf(late); src != audit.RootPrivate || f != "dup-of-late.cer" {
		t.Errorf("Source(late) = %s, %s", src, f)
	}
}

func FuzzReadSST(f *testing.F) {
	p := newPKI(f, "Fuzz")
	f.Add(sstOf(p.root.Raw, p.inter.Raw))
	f.Add(sstOf(notACert))
	f.Add([]byte{0, 0, 0, 0, 'C', 'E', 'R', 'T', 32, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0, 'C', 'E', 'R', 'T'})
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := ReadSST(b)
		if err == nil && len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		for _, c := range certs {
			if c == nil {
				t.Fatal("nil certificate")
			}
		}
		_, _ = Parse(b)
	})
}

func FuzzParse(f *testing.F) {
	p := newPKI(f, "Fuzz")
	f.Add(pemOf(p.root, p.inter))
	f.Add(p.root.Raw)
	f.Add(p7Of(f, p.root.Raw, notACert))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: p7Of(f, p.root.Raw)}))
	f.Add([]byte(base64.StdEncoding.EncodeToString(p.root.Raw)))
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := Parse(b)
		if err == nil && len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
	})
}

// TestStoreSkipsSpecialFiles: a FIFO or a symlink to /dev/zero among the
// private roots is skipped at once with its reason, and listed in
// TrustErrors with the files that could not be read; the other roots load.
func TestStoreSkipsSpecialFiles(t *testing.T) {
	p := newPKI(t, "Contoso")
	dir := t.TempDir()
	rootsFile := write(t, dir, "roots.pem", pemOf(p.root))
	priv := filepath.Join(dir, "private")
	os.Mkdir(priv, 0o755)
	write(t, priv, "good.pem", pemOf(p.root))
	if err := syscall.Mkfifo(filepath.Join(priv, "contoso-root.cer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(priv, "zero.cer")); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, regfile.MaxRoots+1)
	copy(big, pemOf(p.root))
	write(t, priv, "huge.pem", big)
	write(t, priv, "garbage.crt", []byte("not a certificate"))

	type result struct {
		s   *Store
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := New(Options{PrivateDir: priv, RootsFile: rootsFile})
		done <- result{s, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("trust.New blocked on a special file for 10 s")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	got := map[string]string{}
	for _, e := range r.s.TrustErrors() {
		got[filepath.Base(e.File)] = e.Message
	}
	want := map[string]string{
		"contoso-root.cer": "skipped: a FIFO (named pipe), not a regular file",
		"zero.cer":         "skipped: a character device, not a regular file",
		"huge.pem":         "skipped: 16.0 MiB, over the 16.0 MiB limit",
		"garbage.crt":      ErrUnknownFormat.Error(),
	}
	for f, msg := range want {
		if got[f] != msg {
			t.Errorf("trust error of %s = %q, want %q", f, got[f], msg)
		}
	}
	if len(got) != len(want) {
		t.Errorf("trust errors %v, want exactly %v", got, want)
	}
	if len(r.s.Private) != 1 || r.s.Private[0].File != "good.pem" {
		t.Errorf("private roots %+v, want good.pem alone", r.s.Private)
	}
	for _, w := range r.s.Warnings {
		if strings.Contains(w.Error(), "contoso-root.cer") && !strings.Contains(w.Error(), "roots file "+filepath.Join(priv, "contoso-root.cer")+" skipped: a FIFO") {
			t.Errorf("warning %q does not say the FIFO was skipped", w)
		}
	}

	// --roots pointing at /dev/zero fails at once, naming the file.
	zero := filepath.Join(dir, "roots-zero.pem")
	os.Symlink("/dev/zero", zero)
	s, err := New(Options{RootsFile: zero})
	var re *regfile.Error
	if s != nil || !errors.As(err, &re) || !errors.Is(err, regfile.ErrNotRegular) || !strings.Contains(err.Error(), zero) {
		t.Errorf("New(--roots /dev/zero) = %v, %v; want a regfile error naming %s", s, err, zero)
	}
}
