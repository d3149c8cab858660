package inventory

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/regfile"
)

// headSize is how much of an inventory Stream reads before its rows: the
// header line (and an Excel sep= line before it) must be within it.
const headSize = 64 << 10

// Stream reads the inventory at path a row at a time, as Load reads it
// whole: fn gets each good row in file order (an error of fn stops it and
// is returned), and the File returned holds the bad rows and the encoding,
// not the partners. The file is read twice, once to tell its encoding, at
// most regfile.MaxInventoryStream bytes; memory holds one row and a
// digest of each row before it (duplicates are told by it).
func Stream(path string, fn func(audit.Partner) error) (*File, error) {
	enc, crOnly, err := sniff(path)
	if err != nil {
		return nil, err
	}
	fh, err := regfile.Open(path, regfile.MaxInventoryStream)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer fh.Close()
	br := bufio.NewReaderSize(io.LimitReader(fh, regfile.MaxInventoryStream), 1<<20)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xEF\xBB\xBF")) {
		br.Discard(3)
	}
	var r io.Reader = br
	if crOnly {
		r = crToLF{br}
	}
	if enc == EncodingWindows1252 {
		r = transform.NewReader(r, charmap.Windows1252.NewDecoder())
	}
	head := make([]byte, headSize)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("inventory %s: %w", path, err)
	}
	f := &File{Encoding: enc}
	f.Errors, err = decodeRows(head[:n], r, path, fn)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// sniff reads the file at path once to tell what Stream must know before
// its rows: whether it is UTF-16 (refused, as prepare does), UTF-8 or
// Windows-1252, and whether its lines end in CR alone (old Mac).
func sniff(path string) (enc string, crOnly bool, err error) {
	fh, err := regfile.Open(path, regfile.MaxInventoryStream)
	if err != nil {
		return "", false, fmt.Errorf("inventory: %w", err)
	}
	defer fh.Close()
	buf := make([]byte, 1<<20)
	valid, lf, cr, first := true, false, false, true
	var carry []byte // an incomplete UTF-8 sequence at the end of the last piece
	for {
		n, rerr := fh.Read(buf)
		b := buf[:n]
		if first && n > 0 {
			if bytes.HasPrefix(b, []byte{0xFF, 0xFE}) || bytes.HasPrefix(b, []byte{0xFE, 0xFF}) {
				return "", false, audit.InventoryError{File: path, Line: 1, Message: `file is UTF-16 (Excel "Unicode Text"); save it as "CSV UTF-8 (comma delimited)"`}
			}
			first = false
		}
		lf = lf || bytes.IndexByte(b, '\n') >= 0
		cr = cr || bytes.IndexByte(b, '\r') >= 0
		if valid {
			b = append(carry, b...)
			cut := len(b)
			for k := 1; k < utf8.UTFMax && k <= len(b); k++ { // keep a sequence the next piece completes
				if c := b[len(b)-k]; c >= 0xC0 {
					if !utf8.FullRune(b[len(b)-k:]) {
						cut = len(b) - k
					}
					break
				} else if c < 0x80 {
					break
				}
			}
			valid = utf8.Valid(b[:cut])
			carry = append([]byte(nil), b[cut:]...)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", false, fmt.Errorf("inventory %s: %w", path, rerr)
		}
	}
	if valid && len(carry) > 0 {
		valid = utf8.Valid(carry)
	}
	enc = EncodingUTF8
	if !valid {
		enc = EncodingWindows1252
	}
	return enc, cr && !lf, nil
}

// crToLF reads old-Mac text (lines ending in CR alone) with LF line ends.
type crToLF struct{ r io.Reader }

func (c crToLF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := range p[:n] {
		if p[i] == '\r' {
			p[i] = '\n'
		}
	}
	return n, err
}
