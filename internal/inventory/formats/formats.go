// Package formats tells the inventory sources apart (the partner CSV,
// Postfix's policy map and main.cf, Exchange's connector exports and
// domain-secure list) by their content or name, reads the MTA ones, and
// gathers them into one view of our MTA's TLS policy.
//
// The files come from these commands:
//
//	# Postfix: the policy table's source (the file postmap reads) and main.cf
//	postconf -h smtp_tls_policy_maps          # names it, e.g. hash:/etc/postfix/tls_policy
//	cp /etc/postfix/tls_policy tls_policy
//	postconf -n > main.cf                     # or cp /etc/postfix/main.cf main.cf
//
//	# Exchange Server (Exchange Management Shell)
//	Get-SendConnector | Select-Object Name,
//	    @{n='AddressSpaces';e={$_.AddressSpaces -join ' '}}, DNSRoutingEnabled,
//	    @{n='SmartHosts';e={$_.SmartHosts -join ' '}}, RequireTLS, TlsAuthLevel,
//	    TlsDomain, TlsCertificateName, DomainSecureEnabled, IgnoreSTARTTLS, Enabled |
//	  Export-Csv -Encoding UTF8 send-connectors.csv
//	Get-TransportConfig | Select-Object -ExpandProperty TLSSendDomainSecureList |
//	  ForEach-Object { $_.ToString() } | Set-Content -Encoding UTF8 domain-secure.txt
//
//	# Exchange Online (Connect-ExchangeOnline first)
//	Get-OutboundConnector | Select-Object Name, Enabled, ConnectorType,
//	    @{n='RecipientDomains';e={$_.RecipientDomains -join ' '}}, UseMXRecord,
//	    @{n='SmartHosts';e={$_.SmartHosts -join ' '}}, TlsSettings, TlsDomain,
//	    SmtpDaneMode, MtaStsMode |
//	  Export-Csv -Encoding UTF8 outbound-connectors.csv
//
// Windows PowerShell's other encodings (UTF-16 LE from -Encoding Unicode or
// "> file"), its "#TYPE" line, -UseCulture's ';' and "{a, b}" cells are
// read too.
package formats

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/inventory/exchange"
	"github.com/mxaudit/mxaudit/internal/inventory/postfix"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
)

// Format is a kind of inventory file.
type Format string

// The formats.
const (
	Unknown          Format = ""
	PartnerCSV       Format = "csv"                    // the partner inventory (internal/inventory)
	PostfixPolicyMap Format = "postfix-policy"         // smtp_tls_policy_maps source
	PostfixMainCF    Format = "postfix-main.cf"        // main.cf
	SendConnectors   Format = "exchange-send"          // Get-SendConnector | Export-Csv
	OutboundConns    Format = "exchange-outbound"      // Get-OutboundConnector | Export-Csv
	DomainSecureList Format = "exchange-domain-secure" // TLSSendDomainSecureList
)

// All lists the formats a user may name (--inventory-format).
var All = []Format{PartnerCSV, PostfixPolicyMap, PostfixMainCF, SendConnectors, OutboundConns, DomainSecureList}

// Parse reads a format name.
func Parse(s string) (Format, error) {
	for _, f := range All {
		if strings.EqualFold(s, string(f)) {
			return f, nil
		}
	}
	names := make([]string, len(All))
	for i, f := range All {
		names[i] = string(f)
	}
	return Unknown, fmt.Errorf("unknown inventory format %q (want %s)", s, strings.Join(names, ", "))
}

// sniff is how much of a file Detect looks at.
const sniff = 64 << 10

// Detect names the format of a file from its name and its first bytes;
// Unknown when nothing fits.
func Detect(name string, data []byte) Format {
	if len(data) > sniff {
		data = data[:sniff]
	}
	if strings.EqualFold(filepath.Base(name), "main.cf") {
		return PostfixMainCF
	}
	text, err := exchange.DecodeText(trimOddTail(data), name)
	if err != nil {
		return Unknown
	}
	var lines, all []string // logical lines (no continuations), and every line
	for _, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		if t == "" {
			continue
		}
		if strings.HasPrefix(t, "#TYPE ") {
			return connectorKind(nil, text)
		}
		if strings.HasPrefix(t, "#") {
			continue
		}
		all = append(all, t)
		if l[0] != ' ' && l[0] != '\t' {
			lines = append(lines, t) // continuation lines decide nothing
		}
		if len(all) == 50 {
			break
		}
	}
	if len(all) == 0 {
		return Unknown
	}
	if f := connectorKind(all[:1], ""); f != Unknown {
		return f
	}
	h := strings.ToLower(all[0])
	if strings.Contains(h, "partner") && strings.Contains(h, "host") && strings.ContainsAny(h, ",;\t") {
		return PartnerCSV
	}
	var assign, policy, domains int
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && f[1] == "=" || len(f) >= 1 && strings.Contains(f[0], "=") && isParamName(f[0][:strings.IndexByte(f[0], '=')]):
			assign++
		case len(f) >= 2 && isLevel(strings.Trim(f[1], ",")):
			policy++
		}
	}
	for _, l := range all {
		f := strings.Fields(l)
		if len(f) == 1 || len(f) == 2 && (strings.EqualFold(f[0], "Domain") || strings.Trim(f[0], "-") == "" || strings.EqualFold(f[1], "True") || strings.EqualFold(f[1], "False")) {
			domains++
		}
	}
	switch n := len(lines); {
	case assign*2 > n:
		return PostfixMainCF
	case policy*2 > n:
		return PostfixPolicyMap
	case domains == len(all) && !strings.ContainsAny(text, "=,;"):
		return DomainSecureList
	}
	return Unknown
}

func trimOddTail(b []byte) []byte {
	if len(b) > 2 && (b[0] == 0xFF && b[1] == 0xFE || b[0] == 0xFE && b[1] == 0xFF || b[1] == 0 || b[0] == 0) && len(b)%2 == 1 {
		return b[:len(b)-1]
	}
	return b
}

func connectorKind(lines []string, text string) Format {
	if len(lines) == 0 && text != "" {
		for _, l := range strings.Split(text, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
				lines = []string{t}
				break
			}
		}
	}
	if len(lines) == 0 {
		return Unknown
	}
	header := strings.FieldsFunc(lines[0], func(r rune) bool { return r == ',' || r == ';' || r == '"' })
	switch exchange.DetectKind(header) {
	case exchange.SendConnectors:
		return SendConnectors
	case exchange.OutboundConnectors:
		return OutboundConns
	}
	return Unknown
}

func isParamName(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func isLevel(s string) bool {
	_, err := mtapolicy.ParseLevel(s)
	return err == nil && s == strings.ToLower(s)
}

// Inventory is what one MTA inventory file holds.
type Inventory struct {
	File             string
	Format           Format
	PolicyMap        *mtapolicy.PolicyMap     // PostfixPolicyMap
	MainCF           *postfix.MainCF          // PostfixMainCF
	Connectors       []mtapolicy.ExchangeRule // SendConnectors, OutboundConns
	DomainSecureList []string                 // DomainSecureList
}

// maxRead bounds a file read here.
const maxRead = 16 << 20

// ReadFile reads an MTA inventory file in format f (Unknown: detected).
// The partner CSV is not read here (internal/inventory reads it): asking
// for it, or a file detected as it, is an error naming the reader to use.
func ReadFile(path string, f Format) (*Inventory, []audit.InventoryError, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("inventory: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxRead+1))
	if err != nil {
		return nil, nil, fmt.Errorf("inventory %s: %w", path, err)
	}
	if len(data) > maxRead {
		return nil, nil, audit.InventoryError{File: path, Line: 1, Message: fmt.Sprintf("file is larger than %d bytes", maxRead)}
	}
	return Read(data, path, f)
}

// Read is ReadFile over bytes already read; file names them in errors.
func Read(data []byte, file string, f Format) (*Inventory, []audit.InventoryError, error) {
	if f == Unknown {
		f = Detect(file, data)
	}
	inv := &Inventory{File: file, Format: f}
	var errs []audit.InventoryError
	var err error
	r := bytes.NewReader(data)
	switch f {
	case PostfixPolicyMap:
		inv.PolicyMap, errs, err = postfix.ReadPolicyMap(r, file)
	case PostfixMainCF:
		inv.MainCF, errs, err = postfix.ReadMainCF(r, file)
	case SendConnectors, OutboundConns:
		var kind exchange.Kind
		kind, inv.Connectors, errs, err = exchange.ReadConnectors(r, file)
		if err == nil && (kind == exchange.SendConnectors) != (f == SendConnectors) {
			err = audit.InventoryError{File: file, Line: 1, Message: fmt.Sprintf("the header is not that of a %s export", f)}
		}
	case DomainSecureList:
		inv.DomainSecureList, errs, err = exchange.ReadDomainSecureList(r, file)
	case PartnerCSV:
		err = fmt.Errorf("inventory %s: a partner CSV, read it with internal/inventory", file)
	default:
		err = audit.InventoryError{File: file, Line: 1, Message: "cannot tell the format (a partner CSV, a Postfix policy map or main.cf, an Exchange connector export or TLSSendDomainSecureList); name it"}
	}
	if err != nil {
		return nil, nil, err
	}
	return inv, errs, nil
}

// Gather combines inventories into one MTA view; main.cf settings that
// cannot be used are returned as errors (the defaults are kept).
func Gather(invs ...*Inventory) (*mtapolicy.MTA, []audit.InventoryError) {
	m := &mtapolicy.MTA{Postfix: mtapolicy.DefaultPostfixConfig()}
	var errs []audit.InventoryError
	for _, inv := range invs {
		switch inv.Format {
		case PostfixMainCF:
			c, e := inv.MainCF.Config()
			m.Postfix, m.HasPostfix = c, true
			errs = append(errs, e...)
		case PostfixPolicyMap:
			if m.PolicyMap == nil {
				m.PolicyMap = &mtapolicy.PolicyMap{}
			}
			for _, e := range inv.PolicyMap.Entries {
				m.PolicyMap.Add(e)
			}
			m.HasPostfix = true
		case SendConnectors:
			m.Server.Connectors = append(m.Server.Connectors, inv.Connectors...)
			m.HasServer = true
		case OutboundConns:
			m.Online.Connectors = append(m.Online.Connectors, inv.Connectors...)
			m.Online.Online, m.HasOnline = true, true
		case DomainSecureList:
			m.Server.DomainSecureList = append(m.Server.DomainSecureList, inv.DomainSecureList...)
			m.Server.DomainSecureFile = inv.File
			m.HasServer = true
		}
	}
	return m, errs
}
