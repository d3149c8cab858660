package exchange

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
)

// Kind is which export a CSV file is.
type Kind int

// The connector exports.
const (
	SendConnectors     Kind = iota + 1 // Get-SendConnector (Exchange Server)
	OutboundConnectors                 // Get-OutboundConnector (Exchange Online)
)

// table is a PowerShell CSV export: header and records with their lines.
type table struct {
	file   string
	cols   map[string]int
	header []string
	rows   [][]string
	lines  []int
}

func (t *table) cell(row []string, col string) string {
	if i, ok := t.cols[strings.ToLower(col)]; ok && i < len(row) {
		return strings.TrimSpace(row[i])
	}
	return ""
}

func (t *table) has(col string) bool { _, ok := t.cols[strings.ToLower(col)]; return ok }

// readTable decodes and parses a PowerShell CSV export.
func readTable(r io.Reader, file string) (*table, error) {
	text, err := readText(r, file)
	if err != nil {
		return nil, err
	}
	// The delimiter: ',' unless the header has more ';' (Export-Csv -UseCulture in many locales).
	header := ""
	for _, l := range strings.Split(text, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			header = l
			break
		}
	}
	if header == "" {
		return nil, audit.InventoryError{File: file, Line: 1, Message: "empty export: no header line"}
	}
	cr := csv.NewReader(strings.NewReader(text))
	cr.Comment = '#' // the "#TYPE ..." line of Windows PowerShell
	cr.FieldsPerRecord = -1
	if strings.Count(header, ";") > strings.Count(header, ",") {
		cr.Comma = ';'
	}
	t := &table{file: file, cols: map[string]int{}}
	rec, err := cr.Read()
	if err != nil {
		return nil, csvError(err, file)
	}
	t.header = append([]string{}, rec...)
	for i, h := range rec {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := t.cols[h]; dup {
			line, _ := cr.FieldPos(i)
			return nil, audit.InventoryError{File: file, Line: line, Column: h, Message: "duplicate column"}
		}
		t.cols[h] = i
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err, file)
		}
		line, _ := cr.FieldPos(0)
		t.rows = append(t.rows, append([]string{}, rec...))
		t.lines = append(t.lines, line)
	}
	return t, nil
}

func csvError(err error, file string) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return audit.InventoryError{File: file, Line: pe.Line, Message: pe.Err.Error()}
	}
	return fmt.Errorf("%s: %w", file, err)
}

// DetectKind tells a send connector export from an outbound connector
// export by its header; 0 when it is neither.
func DetectKind(header []string) Kind {
	has := func(n string) bool {
		for _, h := range header {
			if strings.EqualFold(strings.TrimSpace(h), n) {
				return true
			}
		}
		return false
	}
	switch {
	case has("AddressSpaces"):
		return SendConnectors
	case has("RecipientDomains"), has("TlsSettings"), has("UseMXRecord"):
		return OutboundConnectors
	}
	return 0
}

// ReadConnectorsFile reads a connector export at path; see ReadConnectors.
func ReadConnectorsFile(path string) (Kind, []mtapolicy.ExchangeRule, []audit.InventoryError, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("connectors: %w", err)
	}
	defer f.Close()
	return ReadConnectors(f, path)
}

// ReadConnectors reads a Get-SendConnector or Get-OutboundConnector CSV
// export (which one is found from the header). Bad cells are reported
// with file, line and column and their connector is left out; the error
// is non-nil only when the file cannot be used at all.
func ReadConnectors(r io.Reader, file string) (Kind, []mtapolicy.ExchangeRule, []audit.InventoryError, error) {
	t, err := readTable(r, file)
	if err != nil {
		return 0, nil, nil, err
	}
	kind := DetectKind(t.header)
	if kind == 0 {
		return 0, nil, nil, audit.InventoryError{File: file, Line: 1, Message: "neither a Get-SendConnector export (no AddressSpaces column) nor a Get-OutboundConnector export (no RecipientDomains column)"}
	}
	if !t.has("Name") {
		return 0, nil, nil, audit.InventoryError{File: file, Line: 1, Column: "Name", Message: "required column is missing"}
	}
	var rules []mtapolicy.ExchangeRule
	var errs []audit.InventoryError
	for i, row := range t.rows {
		var rule mtapolicy.ExchangeRule
		var rowErrs []audit.InventoryError
		bad := func(col, format string, args ...any) {
			rowErrs = append(rowErrs, audit.InventoryError{File: file, Line: t.lines[i], Column: col, Message: fmt.Sprintf(format, args...)})
		}
		if kind == SendConnectors {
			rule = sendConnector(t, row, bad)
		} else {
			rule = outboundConnector(t, row, bad)
		}
		rule.File, rule.Line = file, t.lines[i]
		if enabled, err := parseBool(t.cell(row, "Enabled"), true); err != nil {
			bad("Enabled", "%v", err)
		} else if !enabled {
			continue // a disabled connector routes nothing
		}
		if len(rowErrs) > 0 {
			errs = append(errs, rowErrs...)
			continue
		}
		rules = append(rules, rule)
	}
	return kind, rules, errs, nil
}

type badFunc func(col, format string, args ...any)

func boolCell(t *table, row []string, col string, def bool, bad badFunc) bool {
	v, err := parseBool(t.cell(row, col), def)
	if err != nil {
		bad(col, "%v", err)
	}
	return v
}

func rawCell(t *table, row []string, col string, bad badFunc) string {
	c := t.cell(row, col)
	if typeName(c) {
		bad(col, "the cell holds the type name %q, not the values: export with @{n='%s';e={$_.%s -join ' '}}", c, col, col)
		return ""
	}
	return c
}

func multiCell(t *table, row []string, col string, bad badFunc) []string {
	return splitMulti(rawCell(t, row, col, bad))
}

// splitAddressSpaces splits an AddressSpaces cell ("SMTP:a.com;1
// SMTP:b.com;2", "{SMTP:a.com;1, SMTP:b.com;2}", or joined with ';')
// into "type:domain;cost" values.
func splitAddressSpaces(cell string) []string {
	c := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(cell), "{"), "}")
	var out []string
	for _, tok := range strings.FieldsFunc(c, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		for _, part := range strings.Split(tok, ";") {
			switch {
			case part == "":
			case strings.Contains(part, ":") || len(out) == 0:
				out = append(out, part)
			default: // the cost of the address space before it
				out[len(out)-1] += ";" + part
			}
		}
	}
	return out
}

func sendConnector(t *table, row []string, bad badFunc) mtapolicy.ExchangeRule {
	r := mtapolicy.ExchangeRule{Connector: t.cell(row, "Name"), TLSCertificateName: t.cell(row, "TlsCertificateName")}
	if r.Connector == "" {
		bad("Name", "empty connector name")
	}
	for _, as := range splitAddressSpaces(rawCell(t, row, "AddressSpaces", bad)) {
		typ, rest, found := strings.Cut(as, ":")
		if !found {
			typ, rest = "SMTP", as
		}
		if !strings.EqualFold(typ, "SMTP") {
			continue // X400, EX and other non-SMTP address spaces route no Internet mail
		}
		domain, cost := rest, 1
		if d, c, ok := strings.Cut(rest, ";"); ok {
			n, err := strconv.Atoi(c)
			if err != nil || n < 1 || n > 100 {
				bad("AddressSpaces", "address space %q: cost %q is not a number from 1 to 100", as, c)
				continue
			}
			domain, cost = d, n
		}
		if why := validDomain(domain, true); why != "" {
			bad("AddressSpaces", "address space %q: %s", as, why)
			continue
		}
		r.AddressSpaces = append(r.AddressSpaces, domain)
		r.Costs = append(r.Costs, cost)
	}
	r.DNSRouting = boolCell(t, row, "DNSRoutingEnabled", true, bad)
	r.SmartHosts = multiCell(t, row, "SmartHosts", bad)
	if !r.DNSRouting && len(r.SmartHosts) == 0 && t.has("SmartHosts") {
		bad("SmartHosts", "DNSRoutingEnabled is False but no smart host is given")
	}
	r.RequireTLS = boolCell(t, row, "RequireTLS", false, bad)
	r.DomainSecure = boolCell(t, row, "DomainSecureEnabled", false, bad)
	r.IgnoreSTARTTLS = boolCell(t, row, "IgnoreSTARTTLS", false, bad)
	a, err := mtapolicy.ParseTLSAuth(t.cell(row, "TlsAuthLevel"))
	if err != nil {
		bad("TlsAuthLevel", "%v", err)
	}
	r.TLSAuth = a
	if a != mtapolicy.TLSAuthNone && !r.RequireTLS {
		bad("TlsAuthLevel", "TlsAuthLevel %s needs RequireTLS True (Set-SendConnector refuses it otherwise)", a)
	}
	if r.RequireTLS && r.IgnoreSTARTTLS {
		bad("IgnoreSTARTTLS", "IgnoreSTARTTLS must be False when RequireTLS is True")
	}
	r.TLSDomain = t.cell(row, "TlsDomain")
	if r.TLSDomain != "" {
		if why := validDomain(r.TLSDomain, true); why != "" {
			bad("TlsDomain", "%s", why)
		}
	}
	return r
}

func outboundConnector(t *table, row []string, bad badFunc) mtapolicy.ExchangeRule {
	r := mtapolicy.ExchangeRule{Online: true, Connector: t.cell(row, "Name")}
	if r.Connector == "" {
		bad("Name", "empty connector name")
	}
	for _, d := range multiCell(t, row, "RecipientDomains", bad) {
		if why := validDomain(d, true); why != "" {
			bad("RecipientDomains", "%s", why)
			continue
		}
		r.AddressSpaces = append(r.AddressSpaces, d)
	}
	r.DNSRouting = boolCell(t, row, "UseMXRecord", true, bad)
	r.SmartHosts = multiCell(t, row, "SmartHosts", bad)
	if !r.DNSRouting && len(r.SmartHosts) == 0 {
		bad("SmartHosts", "UseMXRecord is False but no smart host is given")
	}
	a, err := mtapolicy.ParseTLSAuth(t.cell(row, "TlsSettings"))
	if err != nil {
		bad("TlsSettings", "%v", err)
	}
	r.TLSAuth, r.RequireTLS = a, a != mtapolicy.TLSAuthNone
	r.TLSDomain = t.cell(row, "TlsDomain")
	if r.TLSDomain != "" {
		if why := validDomain(r.TLSDomain, true); why != "" {
			bad("TlsDomain", "%s", why)
		}
	}
	if a == mtapolicy.DomainValidation && r.TLSDomain == "" {
		bad("TlsDomain", "TlsSettings DomainValidation needs a TlsDomain")
	}
	for col, dst := range map[string]*string{"SmtpDaneMode": &r.DaneMode, "MtaStsMode": &r.MtaStsMode} {
		v := t.cell(row, col)
		switch {
		case v == "":
		case strings.EqualFold(v, "Opportunistic"), strings.EqualFold(v, "None"), col == "SmtpDaneMode" && strings.EqualFold(v, "Mandatory"):
			*dst = v
		default:
			bad(col, "%q is not a valid %s", v, col)
		}
	}
	return r
}

// ReadDomainSecureListFile reads a TLSSendDomainSecureList export at path; see ReadDomainSecureList.
func ReadDomainSecureListFile(path string) ([]string, []audit.InventoryError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("domain secure list: %w", err)
	}
	defer f.Close()
	return ReadDomainSecureList(f, path)
}

// ReadDomainSecureList reads the output of Get-TransportConfig | Select
// -Expand TLSSendDomainSecureList: one domain a line (the "Domain" table
// header and its ruler, if the objects were formatted as a table, are
// skipped). The list takes no wildcards.
func ReadDomainSecureList(r io.Reader, file string) ([]string, []audit.InventoryError, error) {
	text, err := readText(r, file)
	if err != nil {
		return nil, nil, err
	}
	var out []string
	var errs []audit.InventoryError
	seen := map[string]bool{}
	for i, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		d := f[0]
		if strings.EqualFold(d, "Domain") || strings.Trim(d, "-") == "" {
			continue
		}
		if why := validDomain(d, false); why != "" {
			errs = append(errs, audit.InventoryError{File: file, Line: i + 1, Column: "domain", Message: why})
			continue
		}
		if k := strings.ToLower(d); !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out, errs, nil
}
