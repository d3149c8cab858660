// Package inventory reads the partner inventory: a CSV file, one partner
// domain or host per row, as Excel and other tools really write it (UTF-8 with or
// without BOM, or Windows-1252 as Excel's "CSV (comma delimited)" writes
// it on Western European Windows; `,` or `;` or tab delimiter, CRLF, quoted
// fields with line breaks, comment lines, trailing empty columns).
//
// Columns are found by header name (case-insensitive, trimmed, spaces and
// hyphens read as underscores, any order). Rows with problems are reported
// as audit.InventoryError values, every bad field of every row, and left
// out, except a row whose only problem is its contact: it is audited, and
// its bad addresses are reported. Only a file that cannot be used at all
// makes Read fail.
package inventory

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/encoding/charmap"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/audit/dn"
	"github.com/mxaudit/mxaudit/internal/regfile"
)

// Column names (normalised header names) the inventory understands.
const (
	ColPartner         = "partner"
	ColDomain          = "domain"
	ColHost            = "host"
	ColAddress         = "address"
	ColPort            = "port"
	ColTLS             = "tls"
	ColEnforced        = "enforced"
	ColContact         = "contact"
	ColExpectedIssuer  = "expected_issuer"
	ColExpectedSubject = "expected_subject"
	ColPrivateRoot     = "private_root"
	ColNotes           = "notes"
)

var known = map[string]bool{
	ColPartner: true, ColDomain: true, ColHost: true, ColAddress: true, ColPort: true, ColTLS: true,
	ColEnforced: true, ColContact: true, ColExpectedIssuer: true, ColExpectedSubject: true,
	ColPrivateRoot: true, ColNotes: true,
}

// Required lists the columns every inventory must have; besides them, a
// host or a domain column (OneOf).
var Required = []string{ColPartner}

// OneOf lists the columns of which an inventory must have at least one: a
// row names the partner's mail domain (its MX hosts are found in DNS), or
// the host to audit, or both.
var OneOf = []string{ColDomain, ColHost}

// DefaultPort is the port used when a row leaves port empty.
const DefaultPort = 25

// The encodings an inventory is read in (File.Encoding).
const (
	EncodingUTF8        = "UTF-8"
	EncodingWindows1252 = "Windows-1252"
)

// File is an inventory as read.
type File struct {
	Partners []audit.Partner
	Errors   []audit.InventoryError // bad rows, in file order
	// Encoding is EncodingUTF8, or EncodingWindows1252 when the file was
	// not valid UTF-8 and was decoded as Windows-1252: the caller says so
	// in its log, since a file in another code page would read wrongly.
	Encoding string
}

// ReadFile reads the inventory at path; see Read.
func ReadFile(path string) ([]audit.Partner, []audit.InventoryError, error) {
	f, err := Load(path)
	if err != nil {
		return nil, nil, err
	}
	return f.Partners, f.Errors, nil
}

// Load reads the inventory at path, a regular file of at most
// regfile.MaxInventory bytes (a FIFO or a symlink to /dev/zero is refused
// with a *regfile.Error, without being read); see Decode.
func Load(path string) (*File, error) {
	data, err := regfile.Read(path, regfile.MaxInventory)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return Decode(data, path)
}

// Read parses an inventory; file names it in errors. The error is non-nil
// only when the file cannot be used at all (unreadable, empty, UTF-16, no
// header, a required or duplicate column); it is then an
// audit.InventoryError when it concerns a place in the file. Rows with
// problems are left out and reported in the second result, in file order.
// At most regfile.MaxInventory bytes are read.
func Read(r io.Reader, file string) ([]audit.Partner, []audit.InventoryError, error) {
	data, err := io.ReadAll(io.LimitReader(r, regfile.MaxInventory+1))
	if err != nil {
		return nil, nil, fmt.Errorf("inventory %s: %w", file, err)
	}
	if len(data) > regfile.MaxInventory {
		return nil, nil, fmt.Errorf("inventory %s: larger than %d MiB: %w", file, regfile.MaxInventory>>20, regfile.ErrTooLarge)
	}
	f, err := Decode(data, file)
	if err != nil {
		return nil, nil, err
	}
	return f.Partners, f.Errors, nil
}

// Decode parses the inventory in data as Read does; a file that is not
// valid UTF-8 is decoded as Windows-1252 (File.Encoding says which).
func Decode(data []byte, file string) (*File, error) {
	data, err := prepare(data, file)
	if err != nil {
		return nil, err
	}
	enc := EncodingUTF8
	if !utf8.Valid(data) {
		if data, err = charmap.Windows1252.NewDecoder().Bytes(data); err != nil {
			return nil, fmt.Errorf("inventory %s: decoding Windows-1252: %w", file, err)
		}
		enc = EncodingWindows1252
	}
	f := &File{Encoding: enc}
	f.Errors, err = decodeRows(data, bytes.NewReader(nil), file, func(p audit.Partner) error {
		f.Partners = append(f.Partners, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// decodeRows parses the inventory whose text is head followed by rest,
// calling fn with each good row in file order, and returns the bad rows;
// the header (and an Excel sep= line) must be within head.
func decodeRows(head []byte, rest io.Reader, file string, fn func(audit.Partner) error) ([]audit.InventoryError, error) {
	delim, headerLine := detectDelimiter(head)
	if headerLine == 0 {
		return nil, audit.InventoryError{File: file, Line: 1, Message: "empty file: no header line"}
	}
	cr := csv.NewReader(io.MultiReader(bytes.NewReader(head), rest))
	cr.Comma = delim
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	rd := &reader{file: file, cr: cr}
	if err := rd.header(); err != nil {
		return nil, err
	}
	return rd.rows(fn)
}

// prepare strips a UTF-8 BOM, rejects UTF-16, turns old-Mac CR line ends
// into LF and blanks an Excel `sep=;` line (keeping line numbers).
func prepare(data []byte, file string) ([]byte, error) {
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		return nil, audit.InventoryError{File: file, Line: 1, Message: `file is UTF-16 (Excel "Unicode Text"); save it as "CSV UTF-8 (comma delimited)"`}
	}
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, audit.InventoryError{File: file, Line: 1, Message: "empty file: no header line"}
	}
	if bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') >= 0 {
		data = bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
	}
	return data, nil
}

// detectDelimiter finds the header (the first line that is not blank or a
// comment) and returns the delimiter counted on it outside quotes: the most
// frequent of ',', ';' and tab, ',' on a tie. An Excel `sep=X` line before
// the header sets the delimiter explicitly and is turned into a comment. It
// returns 0 as the line when there is no header.
func detectDelimiter(data []byte) (rune, int) {
	line := 0
	var sep rune
	for len(data) > 0 {
		line++
		end := bytes.IndexByte(data, '\n')
		var l []byte
		if end < 0 {
			l, end = data, len(data)
		} else {
			l = data[:end]
		}
		t := bytes.TrimSpace(l)
		switch {
		case len(t) == 0 || l[0] == '#':
		case sep == 0 && len(t) == 5 && bytes.EqualFold(t[:4], []byte("sep=")) && (t[4] == ',' || t[4] == ';' || t[4] == '\t' || t[4] == '|'):
			sep = rune(t[4])
			l[0] = '#' // a comment for encoding/csv; line numbers stay
		default:
			if sep != 0 {
				return sep, line
			}
			counts := map[byte]int{}
			inQ := false
			for _, c := range l {
				if c == '"' {
					inQ = !inQ
				} else if !inQ && (c == ',' || c == ';' || c == '\t') {
					counts[c]++
				}
			}
			best := byte(',')
			for _, c := range []byte{';', '\t'} {
				if counts[c] > counts[best] {
					best = c
				}
			}
			return rune(best), line
		}
		if end >= len(data) {
			break
		}
		data = data[end+1:]
	}
	return sep, 0
}

// normHeader normalises a header name: trimmed, lower-case, spaces and hyphens as underscores.
func normHeader(h string) string {
	return headerReplacer.Replace(strings.ToLower(trim(h)))
}

var headerReplacer = strings.NewReplacer(" ", "_", "-", "_")

// trim removes white space (including no-break spaces) and the invisible
// characters copy-and-paste leaves behind (zero-width space, BOM).
func trim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff'
	})
}

type reader struct {
	file    string
	cr      *csv.Reader
	headers []string       // as written, trimmed
	norm    []string       // normalised; "" for an empty header cell
	col     map[string]int // normalised name -> index
	width   int            // number of named columns incl. empty ones before the last named one
}

func (rd *reader) header() error {
	rec, err := rd.cr.Read()
	for err == nil && blank(rec) {
		rec, err = rd.cr.Read()
	}
	if err == io.EOF {
		return audit.InventoryError{File: rd.file, Line: 1, Message: "empty file: no header line"}
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return audit.InventoryError{File: rd.file, Line: pe.StartLine, Message: "header: " + pe.Err.Error()}
		}
		return fmt.Errorf("inventory %s: %w", rd.file, err)
	}
	line, _ := rd.cr.FieldPos(0)
	rd.col = map[string]int{}
	for i, h := range rec {
		h = trim(h)
		n := normHeader(h)
		rd.headers = append(rd.headers, h)
		rd.norm = append(rd.norm, n)
		if n == "" {
			continue
		}
		if j, dup := rd.col[n]; dup {
			return audit.InventoryError{File: rd.file, Line: line, Column: h,
				Message: fmt.Sprintf("duplicate column header (columns %d and %d)", j+1, i+1)}
		}
		rd.col[n] = i
		rd.width = i + 1
	}
	var missing []string
	for _, req := range Required {
		if _, ok := rd.col[req]; !ok {
			missing = append(missing, strconv.Quote(req))
		}
	}
	hasOne := false
	for _, c := range OneOf {
		_, ok := rd.col[c]
		hasOne = hasOne || ok
	}
	if !hasOne {
		missing = append(missing, strconv.Quote(ColDomain)+" or "+strconv.Quote(ColHost))
	}
	if len(missing) > 0 {
		return audit.InventoryError{File: rd.file, Line: line,
			Message: fmt.Sprintf("required column %s missing (header has %s)", strings.Join(missing, " and "), describeHeaders(rd.headers))}
	}
	return nil
}

func describeHeaders(h []string) string {
	var q []string
	for _, x := range h {
		if x != "" {
			q = append(q, strconv.Quote(x))
		}
	}
	if len(q) == 0 {
		return "no names"
	}
	return strings.Join(q, ", ")
}

// rows calls fn with every good row, in file order, and returns the bad
// ones; an error of fn stops it and is returned. A duplicate row (same
// partner, host or domain, address and port) is told by a 64-bit digest of
// what makes it one (two rows of a million alike by chance: about 1 in
// 30 million): memory holds a row, and a digest and a line for each before it.
func (rd *reader) rows(fn func(audit.Partner) error) ([]audit.InventoryError, error) {
	var (
		errs []audit.InventoryError
		seen = map[uint64]int32{}
	)
	for {
		rec, err := rd.cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				errs = append(errs, audit.InventoryError{File: rd.file, Message: err.Error()})
				break
			}
			msg := pe.Err.Error()
			if pe.Line != pe.StartLine {
				msg += fmt.Sprintf(" (at line %d)", pe.Line)
			}
			if errors.Is(pe.Err, csv.ErrBareQuote) {
				msg += `; put the field in double quotes and double the quotes inside it`
			}
			errs = append(errs, audit.InventoryError{File: rd.file, Line: pe.StartLine, Message: msg})
			continue
		}
		p, rowErrs, ok := rd.row(rec)
		errs = append(errs, rowErrs...)
		if !ok {
			continue
		}
		domain, what := "", "host, address and port"
		if p.Host == "" {
			domain, what = p.Domain, "domain and port"
		}
		k := rowKey(strings.ToLower(p.Name), p.Host, domain, p.Address, p.Port)
		if first, dup := seen[k]; dup {
			errs = append(errs, audit.InventoryError{File: rd.file, Line: p.Line,
				Message: fmt.Sprintf("duplicate of line %d (same partner, %s)", first, what)})
			continue
		}
		seen[k] = int32(p.Line)
		if err := fn(p); err != nil {
			return errs, err
		}
	}
	return errs, nil
}

// rowKey is the digest of what makes two rows one.
func rowKey(name, host, domain, address string, port int) uint64 {
	h := sha256.New()
	for _, s := range []string{name, host, domain, address, strconv.Itoa(port)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}

// blank reports whether every field of rec is empty or white space.
func blank(rec []string) bool {
	for _, f := range rec {
		if trim(f) != "" {
			return false
		}
	}
	return true
}

// row validates one record. ok is false for a row that is silently
// skipped (all fields empty, as Excel writes `;;;;` for an empty row).
func (rd *reader) row(rec []string) (p audit.Partner, errs []audit.InventoryError, ok bool) {
	line, _ := rd.cr.FieldPos(0)
	if blank(rec) {
		return p, nil, false
	}
	var errCols []int // column index of each error, to report in column order
	errf := func(i int, format string, args ...any) {
		errCols = append(errCols, i)
		l := line
		col := ""
		if i >= 0 && i < len(rec) {
			l, _ = rd.cr.FieldPos(i)
		}
		if i >= 0 && i < len(rd.headers) {
			col = rd.headers[i]
		}
		errs = append(errs, audit.InventoryError{File: rd.file, Line: l, Column: col, Message: fmt.Sprintf(format, args...)})
	}

	// Shape of the row.
	for i := len(rec) - 1; i >= rd.width; i-- {
		if trim(rec[i]) != "" {
			errf(-1, "row has %d fields, the header has %d named columns: field %d %q has no column (a stray delimiter?)", len(rec), rd.width, i+1, trim(rec[i]))
			return p, errs, false
		}
	}
	if len(rec) < rd.width {
		errf(-1, "row has %d fields, the header has %d columns (a missing delimiter or a line break outside quotes?)", len(rec), rd.width)
		return p, errs, false
	}

	// Header repeated in the middle of the file (concatenated exports).
	same := true
	for i, n := range rd.norm {
		if n != "" && normHeader(rec[i]) != n {
			same = false
			break
		}
	}
	if same {
		errf(-1, "header row repeated (were two files pasted together?)")
		return p, errs, false
	}

	get := func(name string) (string, int) {
		i, ok := rd.col[name]
		if !ok {
			return "", -1
		}
		return trim(rec[i]), i
	}
	for i, f := range rec[:rd.width] {
		if rd.norm[i] == "" && trim(f) != "" {
			errf(i, "field %d %q is under a column without a header", i+1, trim(f))
		}
	}

	p.Line = line
	if v, i := get(ColPartner); v == "" {
		errf(i, "partner name is empty")
	} else {
		p.Name = v
	}
	host, hostCol := get(ColHost)
	domain, domainCol := get(ColDomain)
	switch {
	case host == "" && domain == "":
		// A row names the partner's mail domain (its MX are looked up) or the host to audit.
		col := hostCol
		if col < 0 {
			col = domainCol
		}
		errf(col, "host and domain are empty: give the partner's mail domain, or the host to audit")
	case host != "":
		if h, err := normalizeHost(host, true); err != nil {
			errf(hostCol, "%v", err)
		} else {
			p.Host = h
		}
	}
	if domain != "" {
		if d, err := normalizeHost(domain, false); err != nil {
			errf(domainCol, "%v", err)
		} else {
			p.Domain = d
		}
	}
	addrPort := 0
	if v, i := get(ColAddress); v != "" {
		if a, port, err := normalizeAddress(v); host == "" && domain != "" {
			errf(i, "an address needs a host (the name its certificate must carry); without host, the MX hosts of the domain are audited")
		} else if err != nil {
			errf(i, "%v", err)
		} else {
			p.Address, addrPort = a, port
		}
	}
	p.Port = DefaultPort
	if v, i := get(ColPort); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 1 || n > 65535:
			errf(i, "%q is not a port number (1-65535)", v)
		default:
			// port is the service port (it decides the TLS mode); an
			// address with another port is where that service is reached
			// (a NAT or a relay in front of the partner).
			p.Port = n
		}
	} else if addrPort != 0 {
		p.Port = addrPort
	}
	v, i := get(ColTLS)
	mode, err := audit.ParseTLSMode(v, p.Port)
	if err != nil {
		errf(i, "%v", err)
	}
	p.TLS = mode
	if v, i := get(ColEnforced); v != "" {
		b, ok := parseBool(v)
		if !ok {
			errf(i, "%q is not true or false (true/false, yes/no, 1/0)", v)
		}
		p.Enforced = b
	}
	var contactErr *audit.InventoryError // the only problem that does not keep the row from the audit
	if v, i := get(ColContact); v != "" {
		c, err := normalizeContacts(v)
		if err != nil {
			l, _ := rd.cr.FieldPos(i)
			contactErr = &audit.InventoryError{File: rd.file, Line: l, Column: rd.headers[i],
				Message: err.Error() + "; the partner is audited, no report is mailed to it"}
			errCols = append(errCols, i)
			errs = append(errs, *contactErr)
		}
		p.Contact = c // the good addresses, if any
	}
	pinSubject := false
	if v, i := get(ColExpectedIssuer); v != "" {
		if dn.IsPin(v) {
			if _, subj, err := dn.ParsePin(v); err != nil {
				errf(i, "%v", err)
			} else {
				pinSubject = subj != nil
			}
		} else if _, err := dn.Parse(v); err != nil {
			errf(i, "%v", err)
		}
		p.ExpectedIssuer = v
	}
	if v, i := get(ColExpectedSubject); v != "" {
		if _, err := dn.Parse(v); err != nil {
			errf(i, "%v", err)
		} else if pinSubject {
			errf(i, "the subject is already pinned by the <I>..<S>.. value in %s", ColExpectedIssuer)
		}
		p.ExpectedSubject = v
	}
	if v, i := get(ColPrivateRoot); v != "" {
		if strings.ContainsAny(v, `/\:`) || v == "." || v == ".." || strings.ContainsRune(v, 0) {
			errf(i, "%q must be a file name in the private roots directory, without a path", v)
		}
		p.PrivateRoot = v
	}
	p.Notes, _ = get(ColNotes)
	for i, n := range rd.norm[:rd.width] {
		if n != "" && !known[n] {
			if p.Extra == nil {
				p.Extra = map[string]string{}
			}
			p.Extra[rd.headers[i]] = trim(rec[i])
		}
	}
	if len(errs) == 1 && contactErr != nil {
		return p, errs, true
	}
	if len(errs) > 0 {
		idx := make([]int, len(errs))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return errCols[idx[a]] < errCols[idx[b]] })
		sorted := make([]audit.InventoryError, len(errs))
		for i, j := range idx {
			sorted[i] = errs[j]
		}
		return audit.Partner{}, sorted, false
	}
	return p, nil, true
}

// parseBool reads the ways spreadsheets write booleans, including German
// Excel's WAHR/FALSCH (which comes with `;` CSVs).
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "y", "1", "wahr", "ja":
		return true, true
	case "false", "no", "n", "0", "falsch", "nein":
		return false, true
	}
	return false, false
}

// normalizeHost checks a host or domain name: LDH labels, a trailing dot
// removed, lower-cased; internationalised names are converted to their
// xn-- form. With ipOK an IP literal (also in brackets) is accepted.
func normalizeHost(s string, ipOK bool) (string, error) {
	what := "domain"
	if ipOK {
		what = "host"
		t := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		if a, err := netip.ParseAddr(t); err == nil {
			return a.String(), nil
		}
	}
	h := strings.TrimSuffix(s, ".")
	if strings.ContainsFunc(h, func(r rune) bool { return r >= utf8.RuneSelf }) {
		a, err := idna.Lookup.ToASCII(h)
		if err != nil {
			return "", fmt.Errorf("%q is not a valid internationalised %s name: %v", s, what, err)
		}
		h = a
	}
	h = strings.ToLower(h)
	if h == "" || len(h) > 253 {
		return "", fmt.Errorf("%q is not a %s name (1-253 characters)", s, what)
	}
	if strings.Contains(s, ":") || strings.Contains(s, "/") || strings.Contains(s, "@") {
		hint := ""
		switch {
		case strings.Contains(s, "://"):
			hint = " (no URL scheme)"
		case strings.Contains(s, "@"):
			hint = " (an e-mail address? put it in contact)"
		case ipOK:
			hint = " (put the port in the port column)"
		}
		return "", fmt.Errorf("%q is not a %s name%s", s, what, hint)
	}
	for _, l := range strings.Split(h, ".") {
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("%q is not a %s name: %v", s, what, err)
		}
	}
	return h, nil
}

func checkLabel(l string) error {
	if l == "" {
		return errors.New("empty label")
	}
	if len(l) > 63 {
		return fmt.Errorf("label %q is longer than 63 characters", l)
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("label %q contains %q (only letters, digits and hyphens)", l, c)
		}
	}
	return nil
}

// normalizeAddress accepts IP, IP:port, [IPv6] and [IPv6]:port; it returns
// the normalised address and the port (0 if none).
func normalizeAddress(s string) (string, int, error) {
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.String(), 0, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not an IP address or IP:port ([IPv6]:port); host names belong in host", s)
	}
	if ap.Port() == 0 {
		return "", 0, fmt.Errorf("%q: port 0 is not a port number", s)
	}
	return ap.String(), int(ap.Port()), nil
}

// normalizeContacts validates one or more e-mail addresses separated by
// ';' or ',' (outside quotes and angle brackets) and returns the valid ones
// joined by ", ", with an error naming the others.
func normalizeContacts(s string) (string, error) {
	parts := audit.SplitContacts(s)
	var out, bad []string
	for _, p := range parts {
		p = trim(p)
		if p == "" {
			continue
		}
		if _, err := mail.ParseAddress(p); err != nil {
			bad = append(bad, strconv.Quote(p))
			continue
		}
		out = append(out, p)
	}
	good := strings.Join(out, ", ")
	switch {
	case len(bad) == 1:
		return good, fmt.Errorf("%s is not an e-mail address", bad[0])
	case len(bad) > 1:
		return good, fmt.Errorf("%s are not e-mail addresses", strings.Join(bad, ", "))
	case len(out) == 0:
		return "", fmt.Errorf("%q holds no e-mail address", s)
	}
	return good, nil
}
