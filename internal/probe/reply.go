package probe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Limits on what a server may send in one reply.
const (
	MaxLineLength  = 2048 // bytes per reply line, CRLF included (RFC 5321 asks for 512)
	MaxReplyLines  = 100  // lines per multi-line reply
	maxTranscript  = 400  // lines kept in a transcript
	maxKeptLineLen = 512  // bytes of a line kept in a transcript
)

// ErrLineTooLong, ErrTooManyLines and ErrMalformedReply say how a server broke SMTP's reply syntax.
var (
	ErrLineTooLong    = errors.New("reply line longer than 2048 bytes")
	ErrTooManyLines   = errors.New("reply longer than 100 lines")
	ErrMalformedReply = errors.New("malformed reply")
)

// Reply is one SMTP reply: its code and the text of each line.
type Reply struct {
	Code  int
	Lines []string // text after "250-" / "250 "
	Raw   []string // the lines as received, without CRLF
}

// ReadReply reads one (possibly multi-line) SMTP reply from r, reading at
// most maxLines lines; r's buffer size bounds the line length.
func ReadReply(r *bufio.Reader, maxLines int) (*Reply, error) {
	rep := &Reply{}
	for {
		if len(rep.Lines) == maxLines {
			return rep, ErrTooManyLines
		}
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return rep, ErrLineTooLong
		}
		if err != nil {
			if len(line) > 0 {
				return rep, fmt.Errorf("%w: %q then %w", ErrMalformedReply, clip(line), err)
			}
			return rep, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return rep, fmt.Errorf("%w: %q", ErrMalformedReply, clip(line))
		}
		code, err := strconv.Atoi(string(line[:3]))
		if err != nil || code < 200 || code > 599 {
			return rep, fmt.Errorf("%w: %q", ErrMalformedReply, clip(line))
		}
		if rep.Code != 0 && code != rep.Code {
			return rep, fmt.Errorf("%w: code %d inside a %d reply", ErrMalformedReply, code, rep.Code)
		}
		rep.Code = code
		rep.Raw = append(rep.Raw, string(line))
		more := false
		switch {
		case len(line) == 3:
		case line[3] == ' ':
		case line[3] == '-':
			more = true
		default:
			return rep, fmt.Errorf("%w: %q", ErrMalformedReply, clip(line))
		}
		text := ""
		if len(line) > 4 {
			text = string(line[4:])
		}
		rep.Lines = append(rep.Lines, text)
		if !more {
			return rep, nil
		}
	}
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
