package dn

import (
	"encoding/asn1"
	"strings"
)

// attrType describes one well-known attribute type: its canonical short
// name, its OID, how Windows spells it and the other spellings admins use.
type attrType struct {
	canon   string
	oid     string
	windows string   // CertNameToStr key; "" means Windows prints OID.<oid>
	aliases []string // upper-case
}

var attrTypes = []attrType{
	{"CN", "2.5.4.3", "CN", []string{"COMMONNAME"}},
	{"SN", "2.5.4.4", "SN", []string{"SURNAME"}},
	{"SERIALNUMBER", "2.5.4.5", "SERIALNUMBER", []string{"DEVICESERIALNUMBER"}},
	{"C", "2.5.4.6", "C", []string{"COUNTRYNAME", "COUNTRY"}},
	{"L", "2.5.4.7", "L", []string{"LOCALITYNAME", "LOCALITY"}},
	{"ST", "2.5.4.8", "S", []string{"S", "STATEORPROVINCENAME", "STATE", "PROVINCE", "SP"}},
	{"STREET", "2.5.4.9", "STREET", []string{"STREETADDRESS"}},
	{"O", "2.5.4.10", "O", []string{"ORGANIZATIONNAME", "ORGANIZATION"}},
	{"OU", "2.5.4.11", "OU", []string{"ORGANIZATIONALUNITNAME", "ORGANIZATIONALUNIT"}},
	{"TITLE", "2.5.4.12", "T", []string{"T"}},
	{"DESCRIPTION", "2.5.4.13", "Description", nil},
	{"BUSINESSCATEGORY", "2.5.4.15", "", nil},
	{"POSTALCODE", "2.5.4.17", "PostalCode", []string{"PC"}},
	{"POBOX", "2.5.4.18", "POBox", []string{"POSTOFFICEBOX"}},
	{"PHONE", "2.5.4.20", "Phone", []string{"TELEPHONENUMBER"}},
	{"NAME", "2.5.4.41", "", nil},
	{"GN", "2.5.4.42", "G", []string{"G", "GIVENNAME"}},
	{"INITIALS", "2.5.4.43", "I", []string{"I"}},
	{"DNQUALIFIER", "2.5.4.46", "dnQualifier", nil},
	{"PSEUDONYM", "2.5.4.65", "", nil},
	{"ORGANIZATIONIDENTIFIER", "2.5.4.97", "", nil},
	{"DC", "0.9.2342.19200300.100.1.25", "DC", []string{"DOMAINCOMPONENT"}},
	{"UID", "0.9.2342.19200300.100.1.1", "", []string{"USERID"}},
	{"E", "1.2.840.113549.1.9.1", "E", []string{"EMAIL", "EMAILADDRESS"}},
	{"UNSTRUCTUREDNAME", "1.2.840.113549.1.9.2", "UnstructuredName", nil},
	{"JURISDICTIONL", "1.3.6.1.4.1.311.60.2.1.1", "", []string{"JURISDICTIONLOCALITYNAME"}},
	{"JURISDICTIONST", "1.3.6.1.4.1.311.60.2.1.2", "", []string{"JURISDICTIONSTATEORPROVINCENAME"}},
	{"JURISDICTIONC", "1.3.6.1.4.1.311.60.2.1.3", "", []string{"JURISDICTIONCOUNTRYNAME"}},
}

var (
	byName = map[string]*attrType{} // canonical names and aliases, upper-case
	byOID  = map[string]*attrType{}
)

func init() {
	for i := range attrTypes {
		t := &attrTypes[i]
		byName[t.canon] = t
		for _, a := range t.aliases {
			byName[a] = t
		}
		byOID[t.oid] = t
	}
}

// CanonicalType returns the canonical upper-case short name of an attribute
// type written as a name in any common spelling ("S", "stateOrProvinceName",
// "emailAddress"), as a dotted OID ("2.5.4.3") or as Windows writes unknown
// OIDs ("OID.2.5.4.97"). Unknown names are returned upper-cased; unknown
// OIDs as the dotted string. The second result is false when s is not a
// syntactically valid attribute type.
func CanonicalType(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	if len(s) > 4 && strings.EqualFold(s[:4], "OID.") {
		s = s[4:]
	}
	if isDottedOID(s) {
		if t, ok := byOID[s]; ok {
			return t.canon, true
		}
		return s, true
	}
	if !isKeyword(s) {
		return "", false
	}
	u := strings.ToUpper(s)
	if t, ok := byName[u]; ok {
		return t.canon, true
	}
	return u, true
}

// typeFromOID returns the canonical type of an ASN.1 OID.
func typeFromOID(oid asn1.ObjectIdentifier) string {
	s := oid.String()
	if t, ok := byOID[s]; ok {
		return t.canon
	}
	return s
}

// windowsType returns Windows' spelling of a canonical type.
func windowsType(canon string) string {
	if t, ok := byName[canon]; ok && t.canon == canon {
		if t.windows != "" {
			return t.windows
		}
		return "OID." + t.oid
	}
	if isDottedOID(canon) {
		return "OID." + canon
	}
	return canon
}

// isKeyword reports whether s is an RFC 4514 keyword (a letter, then letters, digits or '-').
func isKeyword(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return s != ""
}

// isDottedOID reports whether s is a dotted-decimal OID with at least two arcs.
func isDottedOID(s string) bool {
	arcs := strings.Split(s, ".")
	if len(arcs) < 2 {
		return false
	}
	for _, a := range arcs {
		if a == "" || len(a) > 1 && a[0] == '0' {
			return false
		}
		for i := 0; i < len(a); i++ {
			if a[i] < '0' || a[i] > '9' {
				return false
			}
		}
	}
	return true
}
