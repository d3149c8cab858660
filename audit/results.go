package audit

import (
	"bufio"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SchemaVersion is the version of the results.json document this package
// writes. Schema 2 added a partner's targets (every MX host and address);
// ReadResults still reads schema 1.
const SchemaVersion = 2

// Results is one audit run: the results.json document.
//
// Started is the run's clock: everything derived from time (days left,
// expiry thresholds) is computed against it, so a report re-rendered
// later from the same file says the same thing.
type Results struct {
	Schema          int              `json:"schema"`
	Started         time.Time        `json:"started"`
	Finished        time.Time        `json:"finished"`
	Incomplete      bool             `json:"incomplete"`
	Inventory       string           `json:"inventory,omitempty"` // path of the inventory file
	Partners        []Result         `json:"partners"`
	PrivateRoots    []PrivateRoot    `json:"private_roots"`
	InventoryErrors []InventoryError `json:"inventory_errors"`
	// TrustErrors lists every trust file (private root, --roots) that was
	// skipped or only partly read, and why.
	TrustErrors []TrustError `json:"trust_errors,omitempty"`
	Changes     []Change     `json:"changes,omitempty"`
	// Thresholds the run was graded by; absent in files written before
	// they were recorded (RunThresholds then gives the defaults).
	Thresholds *Thresholds `json:"thresholds,omitempty"`

	// Vantage names where the probes left from (--vantage), RunLabel ties
	// the shards of one audit together (--run-label), and Shard is the
	// slice of the inventory audited, "K/N" (--shard); all empty by default.
	Vantage  string `json:"vantage,omitempty"`
	RunLabel string `json:"run_label,omitempty"`
	Shard    string `json:"shard,omitempty"`

	// Notes are facts about the run as a whole, said once: an address
	// family this machine cannot reach ("IPv6 not tested from here: no route").
	Notes []string `json:"notes,omitempty"`
}

// Result is what the audit found for one partner.
type Result struct {
	Partner
	Verdict  Verdict            `json:"verdict"`
	Verdicts []Verdict          `json:"verdicts"`
	Details  map[Verdict]string `json:"details,omitempty"` // why each verdict applies, in words
	// ResultTypes gives each verdict its RFC 8460 result type, where one
	// exists, to line the audit up with the TLS-RPT reports the partner gets.
	ResultTypes map[Verdict]ResultType `json:"result_types,omitempty"`
	Cases       map[Verdict]Case       `json:"cases,omitempty"` // which case of a verdict applies (see Case), for its remedy
	Remedy      string                 `json:"remedy"`
	Root        Root                   `json:"root"`
	Chain       []Cert                 `json:"chain"`
	TLSVersion  string                 `json:"tls_version"`
	Cipher      string                 `json:"cipher"`
	Findings    []Finding              `json:"findings"`
	Error       string                 `json:"error"`
	DurationMS  int64                  `json:"duration_ms"`

	SMTP       SMTP        `json:"smtp"`
	OCSPStaple []byte      `json:"ocsp_staple,omitempty"` // DER of the stapled OCSP response
	Revocation *Revocation `json:"revocation,omitempty"`
	Completion *Completion `json:"completion,omitempty"` // how Windows would complete a PartialChain from AIA
	// Certificates is the audit of each key type's certificate when the
	// server holds more than one (RSA and ECDSA): the first is the one of
	// Chain, the others were seen in extra handshakes; Verdicts hold the
	// verdicts of all of them, so the worst decides. Empty for one key type.
	Certificates []CertAudit `json:"certificates,omitempty"`
	// Probed is the partner (by name) whose probe this result shares, when
	// several partners name the same host, port and address.
	SharedWith string `json:"shared_probe_with,omitempty"`

	// Targets are the partner's audited MX addresses (schema 2): every
	// address of every MX host of its domain, or of the host its rows
	// name. The fields above are those of the worst of them (SetTargets);
	// TargetsFailing counts those with a problem. Empty when no target
	// could be found (DNSError, NullMX) or none was probed.
	Targets        []TargetResult `json:"targets,omitempty"`
	TargetsFailing int            `json:"targets_failing,omitempty"`
	// NotTested lists the partner's addresses of a family this machine
	// cannot reach (see Results.Notes): not probed, and no failure of the partner.
	NotTested []string `json:"not_tested,omitempty"`
	// Policies are the partner's published policies (DNSSEC, DANE,
	// MTA-STS, TLS-RPT) as its worst target sees them; nil when not checked.
	Policies *Policies `json:"policies,omitempty"`
	// Delivery is what our MTA does with mail for the partner: its worst
	// target's (issue 14); nil without an MTA inventory.
	Delivery *Delivery `json:"delivery,omitempty"`
}

// CertAudit is the audit of the chain a server presents for one key type.
type CertAudit struct {
	KeyType    string             `json:"key_type"` // "RSA", "ECDSA"
	Chain      []Cert             `json:"chain"`
	Verdicts   []Verdict          `json:"verdicts"`
	Details    map[Verdict]string `json:"details,omitempty"`
	Root       Root               `json:"root"`
	TLSVersion string             `json:"tls_version"`
	Cipher     string             `json:"cipher"`
}

// Root names the trust anchor a partner's chain ended in.
type Root struct {
	Store    string    `json:"store"` // where the anchor is kept: "system", "private" or "none" ("source" before schema 2)
	File     string    `json:"file"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`        // null in JSON when unknown
	SHA256   string    `json:"sha256,omitempty"` // of the anchor, when the chain was built
}

// MarshalJSON writes every field of the results.json contract, with
// not_after null rather than year 1 when no anchor was found.
func (r Root) MarshalJSON() ([]byte, error) {
	type fields Root // without this method
	var notAfter any
	if !r.NotAfter.IsZero() {
		notAfter = r.NotAfter
	}
	return json.Marshal(struct {
		fields
		NotAfter any `json:"not_after"`
	}{fields(r), notAfter})
}

// UnmarshalJSON reads a root, also from a results.json or history of schema 1,
// which called the store "source".
func (r *Root) UnmarshalJSON(b []byte) error {
	type fields Root // without this method
	var v struct {
		fields
		Source string `json:"source"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = Root(v.fields)
	if r.Store == "" {
		r.Store = v.Source
	}
	return nil
}

// Root stores: where a chain's trust anchor is kept.
const (
	RootSystem  = "system"
	RootPrivate = "private"
	RootNone    = "none"
)

// Cert describes one certificate of a presented chain.
type Cert struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"` // hex, as Windows shows it
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	SHA1      string    `json:"sha1"` // upper-case hex thumbprint, as Windows shows it
	SHA256    string    `json:"sha256"`
	DNSNames  []string  `json:"dns_names,omitempty"`
	KeyType   string    `json:"key_type,omitempty"` // "RSA", "ECDSA", "Ed25519"
	KeyBits   int       `json:"key_bits,omitempty"`
	SigAlg    string    `json:"signature_algorithm,omitempty"`
	DER       []byte    `json:"der"`
}

// SMTP is the SMTP side of a probe: what the server said, and how long each phase took.
type SMTP struct {
	Greeting     []string         `json:"greeting,omitempty"`
	EHLO         []string         `json:"ehlo,omitempty"`     // capabilities before TLS
	EHLOTLS      []string         `json:"ehlo_tls,omitempty"` // capabilities after TLS
	StartTLS     bool             `json:"starttls_offered"`
	Transcript   []string         `json:"transcript,omitempty"` // "C: ..." and "S: ..." lines
	TimingsMS    map[string]int64 `json:"timings_ms,omitempty"` // connect, greeting, ehlo, starttls, handshake, ehlo_tls
	RemoteAddr   string           `json:"remote_addr,omitempty"`
	HandshakeErr string           `json:"handshake_error,omitempty"`
	// ClientCertRequested: the server sent a TLS CertificateRequest (mutual
	// TLS); ClientCertSent: ours (--client-cert) was presented.
	ClientCertRequested bool `json:"client_cert_requested,omitempty"`
	ClientCertSent      bool `json:"client_cert_sent,omitempty"`
}

// Finding is one statement a check makes about a partner.
type Finding struct {
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Remedy   string   `json:"remedy"`
}

// Revocation tells how a partner's chain was checked for revocation.
type Revocation struct {
	Method     string    `json:"method"` // "staple", "ocsp", "crl", "not checked"
	Status     string    `json:"status"` // "good", "revoked", "unknown", "offline", "not checked"
	Detail     string    `json:"detail,omitempty"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	Reason     string    `json:"reason,omitempty"`
	NextUpdate time.Time `json:"next_update,omitzero"`
	// Certs says, leaf first, how each certificate of the chain was checked.
	Certs []CertRevocation `json:"certs,omitempty"`
}

// CertRevocation is how one certificate of a chain was checked for revocation.
type CertRevocation struct {
	Subject    string    `json:"subject"`
	Serial     string    `json:"serial"`
	Method     string    `json:"method"`        // as Revocation.Method
	Status     string    `json:"status"`        // as Revocation.Status
	URL        string    `json:"url,omitempty"` // where the answer came from
	Detail     string    `json:"detail,omitempty"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	Reason     string    `json:"reason,omitempty"`
	NextUpdate time.Time `json:"next_update,omitzero"`
}

// PrivateRoot is one imported private root and its lifecycle.
type PrivateRoot struct {
	File       string    `json:"file"`
	Subject    string    `json:"subject"`
	SHA1       string    `json:"sha1"`
	SHA256     string    `json:"sha256"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	DaysLeft   int       `json:"days_left"`
	UsedBy     []string  `json:"used_by"`
	DeclaredBy []string  `json:"declared_by"`
	Status     string    `json:"status"` // "ok", "expiring", "expired" or "unused"; see Thresholds.RootStatus
	Findings   []Finding `json:"findings,omitempty"`
	DER        []byte    `json:"der,omitempty"`
}

// Private root statuses.
const (
	RootOK       = "ok"
	RootExpiring = "expiring"
	RootExpired  = "expired"
	RootUnused   = "unused"
)

// InventoryError is one bad inventory row.
type InventoryError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  string `json:"column"`
	Message string `json:"message"`
}

func (e InventoryError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	}
	return fmt.Sprintf("%s:%d: column %q: %s", e.File, e.Line, e.Column, e.Message)
}

// TrustError is a trust file that was skipped or only partly read.
type TrustError struct {
	File    string `json:"file"`
	Message string `json:"message"`
}

func (e TrustError) Error() string { return e.File + ": " + e.Message }

// Change is one difference to the previous run of the same inventory.
type Change struct {
	Partner string `json:"partner"`
	// Target is the audited host:port (and address) of the partner row the
	// change concerns, when a partner has several rows.
	Target   string `json:"target,omitempty"`
	Kind     string `json:"kind"`
	Before   string `json:"before"`
	After    string `json:"after"`
	SinceRun int64  `json:"since_run"`
}

// UnmarshalJSON reads a change, also one of schema 1, whose kind
// root_store_changed was called root_source_changed.
func (c *Change) UnmarshalJSON(b []byte) error {
	type fields Change // without this method
	if err := json.Unmarshal(b, (*fields)(c)); err != nil {
		return err
	}
	if c.Kind == "root_source_changed" {
		c.Kind = ChangeRootStoreChanged
	}
	return nil
}

// NewCert describes c.
func NewCert(c *x509.Certificate) Cert {
	s1 := sha1.Sum(c.Raw)
	s256 := sha256.Sum256(c.Raw)
	kt, kb := KeyInfo(c)
	return Cert{
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		Serial:    SerialHex(c.SerialNumber),
		NotBefore: c.NotBefore.UTC(),
		NotAfter:  c.NotAfter.UTC(),
		SHA1:      strings.ToUpper(hex.EncodeToString(s1[:])),
		SHA256:    strings.ToUpper(hex.EncodeToString(s256[:])),
		DNSNames:  c.DNSNames,
		KeyType:   kt,
		KeyBits:   kb,
		SigAlg:    c.SignatureAlgorithm.String(),
		DER:       c.Raw,
	}
}

// SerialHex formats a serial number as Windows shows it: the upper-case hex
// of its DER INTEGER bytes, so a serial with its top bit set keeps its
// leading 00 and a negative serial (seen in real root stores) is in two's
// complement.
func SerialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	m := n
	if n.Sign() < 0 {
		m = new(big.Int).Not(n) // -n-1: its bytes, inverted, are n's two's complement
	}
	b := m.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...) // the sign byte DER keeps
	}
	if n.Sign() < 0 {
		for i := range b {
			b[i] ^= 0xff
		}
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// DaysLeft returns whole days from now to t, negative once t has passed.
func DaysLeft(t, now time.Time) int {
	d := t.Sub(now)
	days := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days--
	}
	return days
}

// Leaf returns the first certificate of the chain, or nil.
func (r *Result) Leaf() *Cert {
	if len(r.Chain) == 0 {
		return nil
	}
	return &r.Chain[0]
}

// Has reports whether r carries verdict v.
func (r *Result) Has(v Verdict) bool {
	for _, x := range r.Verdicts {
		if x == v {
			return true
		}
	}
	return false
}

// WorstSeverity returns the most severe severity among r's verdicts (see
// VerdictSeverity) and findings.
func (r *Result) WorstSeverity() Severity {
	worst := r.VerdictSeverity(r.Verdict)
	for _, v := range r.Verdicts {
		if s := r.VerdictSeverity(v); s.Level() > worst.Level() {
			worst = s
		}
	}
	for _, f := range r.Findings {
		if f.Severity.Level() > worst.Level() {
			worst = f.Severity
		}
	}
	return worst
}

// WriteResults writes r as indented JSON to path atomically.
func WriteResults(path string, r *Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(b, '\n'))
}

// WriteFileAtomic writes data to a temporary file beside path and renames it over path.
func WriteFileAtomic(path string, data []byte) error {
	return WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteAtomic writes what fn writes (buffered, never held whole) to a
// temporary file beside path and renames it over path; an error of fn
// leaves path as it was.
func WriteAtomic(path string, fn func(w io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error { f.Close(); os.Remove(tmp); return err }
	w := bufio.NewWriterSize(f, 1<<16)
	if err := fn(w); err != nil {
		return fail(err)
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// WriteResultsStream writes results.json atomically as WriteResults does,
// byte for byte, with the partners taken one at a time from each (in the
// order it gives them) instead of from r.Partners: a run's results are
// never all in memory at once.
func WriteResultsStream(path string, r *Results, each func(fn func(*Result) error) error) error {
	head := *r
	head.Partners = []Result{}
	b, err := json.MarshalIndent(&head, "", "  ")
	if err != nil {
		return err
	}
	const empty = "\n  \"partners\": [],\n"
	at := strings.Index(string(b), empty)
	if at < 0 {
		return fmt.Errorf("results.json: no partners field in the document")
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error { f.Close(); os.Remove(tmp); return err }
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(b[:at])
	w.WriteString("\n  \"partners\": [")
	n := 0
	err = each(func(p *Result) error {
		pb, err := json.MarshalIndent(p, "    ", "  ")
		if err != nil {
			return fmt.Errorf("partner %s: %w", p.Name, err)
		}
		if n > 0 {
			w.WriteByte(',')
		}
		w.WriteString("\n    ")
		_, err = w.Write(pb)
		n++
		return err
	})
	if err != nil {
		return fail(err)
	}
	if n > 0 {
		w.WriteString("\n  ")
	}
	w.WriteString("],\n")
	w.Write(b[at+len(empty):])
	w.WriteByte('\n')
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
