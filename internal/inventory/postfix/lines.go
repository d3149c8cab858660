// Package postfix reads Postfix's own TLS configuration as inventory: the
// smtp_tls_policy_maps source file (the text before postmap) and main.cf,
// reading lines, comments and continuations exactly as postmap and
// postconf do.
package postfix

import (
	"bytes"
	"fmt"
	"io"

	"github.com/mxaudit/mxaudit/audit"
)

// Limits on what is read.
const (
	MaxFileSize    = 16 << 20 // bytes of one file
	MaxLogicalLine = 64 << 10 // bytes of one logical line (continuations joined)
)

// logical is one logical line: its text (continuation lines appended as
// they are, leading whitespace included) and its first physical line.
type logical struct {
	text  string
	first int
}

// readAll reads r up to MaxFileSize.
func readAll(r io.Reader, file string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(data) > MaxFileSize {
		return nil, audit.InventoryError{File: file, Line: 1, Message: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}
	}
	return data, nil
}

// logicalLines splits data as Postfix's readllines does: empty and
// whitespace-only lines and lines whose first non-whitespace character is
// '#' are skipped (also between continuation lines); a line starting with
// whitespace continues the previous logical line; one with no previous
// line is reported and ignored. A '#' after other text is not a comment.
func logicalLines(data []byte, file string) ([]logical, []audit.InventoryError) {
	var out []logical
	var errs []audit.InventoryError
	var cur []byte
	first, tooLong := 0, false
	flush := func() {
		if cur == nil {
			return
		}
		if tooLong {
			errs = append(errs, audit.InventoryError{File: file, Line: first, Message: fmt.Sprintf("logical line longer than %d bytes, ignored", MaxLogicalLine)})
		} else {
			out = append(out, logical{text: string(cur), first: first})
		}
		cur, tooLong = nil, false
	}
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	for n := 1; len(data) > 0; n++ {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if bytes.IndexByte(line, 0) >= 0 {
			errs = append(errs, audit.InventoryError{File: file, Line: n, Message: "NUL byte in line, text after it may be ignored by Postfix"})
			line = line[:bytes.IndexByte(line, 0)]
		}
		t := bytes.TrimLeft(line, " \t\v\f\r")
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		if len(t) < len(line) { // starts with whitespace: a continuation
			if cur == nil {
				errs = append(errs, audit.InventoryError{File: file, Line: n, Message: fmt.Sprintf("logical line must not start with whitespace: %q (ignored, as postmap ignores it)", clip(string(t)))})
				continue
			}
			if len(cur)+len(line) > MaxLogicalLine {
				tooLong = true
				continue
			}
			cur = append(cur, line...)
			continue
		}
		flush()
		first = n
		if len(line) > MaxLogicalLine {
			cur, tooLong = []byte{}, true
			continue
		}
		cur = append([]byte{}, line...)
	}
	flush()
	return out, errs
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
