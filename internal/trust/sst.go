package trust

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
)

// A Windows serialized certificate store ([MS-OSHARED] 2.3.2.5, what
// certmgr and `certutil -generateSSTFromWU` write as .sst) is a header of
// uint32 0 and uint32 0x54524543 ("CERT"), then little-endian records
// {uint32 element id, uint32 encoding type, uint32 length, data}. A
// certificate's properties (friendly name, hashes, ...) come before the
// certificate element itself; element 0 ends the store.
const (
	sstMagic       = 0x54524543 // "CERT"
	sstEnd         = 0
	sstCertificate = 32 // CERT_CERT_PROP_ID: an encoded certificate
	sstHeaderLen   = 8
	sstRecordLen   = 12
)

// isSST reports whether data starts with a serialized store header.
func isSST(data []byte) bool {
	return len(data) >= sstHeaderLen && binary.LittleEndian.Uint32(data) == 0 &&
		binary.LittleEndian.Uint32(data[4:]) == sstMagic
}

// ReadSST reads the certificates of a Windows serialized certificate store
// (.sst). Every certificate element is accounted for: one that does not
// parse is reported as a *CertError with its index among the certificate
// elements and its byte offset, and the others are still returned (errors
// for several are joined). CRL and CTL elements and certificate properties
// are skipped; a truncated record is an error after the certificates before it.
func ReadSST(data []byte) ([]*x509.Certificate, error) {
	certs, err := readSST(data)
	return certsOf(certs), err
}

func readSST(data []byte) ([]indexed, error) {
	if !isSST(data) {
		return nil, errors.New(`not a serialized certificate store (no "CERT" header)`)
	}
	var (
		out  []indexed
		errs []error
		n    int // certificate elements seen
	)
	off := sstHeaderLen
	ended := false
	for off < len(data) {
		if len(data)-off < sstRecordLen {
			errs = append(errs, fmt.Errorf("truncated record header at offset %d (%d bytes left)", off, len(data)-off))
			break
		}
		id := binary.LittleEndian.Uint32(data[off:])
		length := binary.LittleEndian.Uint32(data[off+8:])
		if id == sstEnd {
			ended = true
			off += sstRecordLen
			break
		}
		start := off + sstRecordLen
		if uint64(length) > uint64(len(data)-start) {
			errs = append(errs, fmt.Errorf("record %d at offset %d claims %d bytes, only %d left", id, off, length, len(data)-start))
			break
		}
		body := data[start : start+int(length)]
		if id == sstCertificate {
			c, err := x509.ParseCertificate(body)
			if err != nil {
				errs = append(errs, &CertError{Index: n, Offset: off, Err: err})
			} else {
				out = append(out, indexed{c, n})
			}
			n++
		}
		off = start + int(length)
	}
	if ended && len(bytes.Trim(data[off:], "\x00")) > 0 {
		errs = append(errs, fmt.Errorf("%d bytes after the end-of-store record at offset %d", len(data)-off, off-sstRecordLen))
	}
	if len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	if n == 0 {
		return nil, fmt.Errorf("serialized store: %w", ErrNoCertificates)
	}
	return out, nil
}
