// Package exchange reads Exchange's outbound TLS configuration as
// inventory: Get-SendConnector and Get-OutboundConnector CSV exports as
// PowerShell writes them (UTF-8 with or without BOM, UTF-16 LE or BE, a
// "#TYPE" first line, ',' or ';' with -UseCulture, quoted multi-valued
// cells), and the TLSSendDomainSecureList of Get-TransportConfig.
package exchange

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/mxaudit/mxaudit/audit"
)

// MaxFileSize bounds what is read of one export.
const MaxFileSize = 16 << 20

// readText reads r (bounded) and decodes it; see DecodeText.
func readText(r io.Reader, file string) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	if len(data) > MaxFileSize {
		return "", audit.InventoryError{File: file, Line: 1, Message: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}
	}
	return DecodeText(data, file)
}

// DecodeText turns an export into UTF-8 text: a UTF-8 BOM is dropped,
// UTF-16 LE/BE (with a BOM, or recognised by its NUL bytes) is decoded,
// CRLF becomes LF.
func DecodeText(data []byte, file string) (string, error) {
	var order binary.ByteOrder
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		order, data = binary.LittleEndian, data[2:]
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		order, data = binary.BigEndian, data[2:]
	case len(data) >= 4 && data[0] != 0 && data[1] == 0 && data[3] == 0:
		order = binary.LittleEndian
	case len(data) >= 4 && data[0] == 0 && data[1] != 0 && data[2] == 0:
		order = binary.BigEndian
	}
	var s string
	if order != nil {
		if len(data)%2 != 0 {
			return "", audit.InventoryError{File: file, Line: 1, Message: "UTF-16 text with an odd number of bytes: the file is truncated"}
		}
		u := make([]uint16, len(data)/2)
		for i := range u {
			u[i] = order.Uint16(data[2*i:])
		}
		s = string(utf16.Decode(u))
	} else {
		data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
		if !utf8.Valid(data) {
			line := 1 + bytes.Count(data[:firstInvalid(data)], []byte("\n"))
			return "", audit.InventoryError{File: file, Line: line, Message: "not UTF-8 or UTF-16 text (export with -Encoding UTF8)"}
		}
		s = string(data)
	}
	s = strings.TrimPrefix(s, "\uFEFF")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return s, nil
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// splitMulti splits a multi-valued cell as PowerShell writes it: joined by
// blanks, commas or semicolons, or as "{a, b}".
func splitMulti(cell string) []string {
	c := strings.TrimSpace(cell)
	c = strings.TrimSuffix(strings.TrimPrefix(c, "{"), "}")
	return strings.FieldsFunc(c, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' })
}

// typeName reports a cell that holds a .NET type name instead of values
// (Export-Csv of a multi-valued property without -join).
func typeName(cell string) bool {
	for _, p := range []string{"System.Object[]", "System.Collections.", "Microsoft.Exchange.Data.MultiValuedProperty", "Microsoft.Exchange.Data."} {
		if strings.HasPrefix(strings.TrimSpace(cell), p) {
			return true
		}
	}
	return false
}

// parseBool reads PowerShell's True/False ("" is def).
func parseBool(s string, def bool) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return def, nil
	case "true", "$true", "1", "yes":
		return true, nil
	case "false", "$false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not True or False", s)
}

// validDomain reports why d is not a domain name ("" when it is); wildcard
// allows a leading "*." (and "*" alone).
func validDomain(d string, wildcard bool) string {
	if d == "" {
		return "empty domain"
	}
	if wildcard {
		if d == "*" {
			return ""
		}
		d = strings.TrimPrefix(d, "*.")
	}
	if strings.Contains(d, "*") {
		if wildcard {
			return fmt.Sprintf("%q: a wildcard is allowed only as the leftmost label", d)
		}
		return fmt.Sprintf("%q: wildcards are not allowed here", d)
	}
	for _, l := range strings.Split(strings.TrimSuffix(d, "."), ".") {
		if l == "" || len(l) > 63 {
			return fmt.Sprintf("%q is not a domain name", d)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r > 127) {
				return fmt.Sprintf("%q is not a domain name", d)
			}
		}
	}
	return ""
}
