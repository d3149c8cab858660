package checks

import (
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/checkspb"
)

// MaxMessage is the largest request a check plugin accepts: gRPC's default
// receive limit, which plugins keep whatever their language.
const MaxMessage = 4 << 20

// requestHeadroom is left in a request beside one result for the clock and framing.
const requestHeadroom = 64 << 10

// Limits of the trimmed form of a result too large to send whole.
const (
	trimLines     = 20   // lines kept at each end of the transcript and of each reply
	trimLineBytes = 1024 // bytes kept of one line
	trimTextBytes = 4096 // bytes kept of error texts, details, notes and extra columns
)

// encodeForChecks returns the wire form of r for the plugins. When the
// whole result exceeds max bytes, the SMTP transcript and replies are
// shortened (first and last lines kept, a line saying how many were left
// out), long texts are cut and the stapled OCSP response left out, and
// trimmed is true. ok is false when even that does not fit: the result
// cannot be sent (its chain alone is too large).
func encodeForChecks(r *audit.Result, max int) (enc []byte, trimmed, ok bool) {
	enc, _ = proto.Marshal(checkspb.EncodeResult(r)) // our own well-formed message
	if len(enc) <= max {
		return enc, false, true
	}
	t := *r
	t.SMTP.Transcript = trimList(r.SMTP.Transcript)
	t.SMTP.Greeting = trimList(r.SMTP.Greeting)
	t.SMTP.EHLO = trimList(r.SMTP.EHLO)
	t.SMTP.EHLOTLS = trimList(r.SMTP.EHLOTLS)
	t.SMTP.HandshakeErr = cut(r.SMTP.HandshakeErr, trimTextBytes)
	t.Error = cut(r.Error, trimTextBytes)
	t.Remedy = cut(r.Remedy, trimTextBytes)
	t.Notes = cut(r.Notes, trimTextBytes)
	t.OCSPStaple = nil
	if r.Details != nil {
		t.Details = maps.Clone(r.Details)
		for k, v := range t.Details {
			t.Details[k] = cut(v, trimTextBytes)
		}
	}
	if r.Extra != nil {
		t.Extra = maps.Clone(r.Extra)
		for k, v := range t.Extra {
			t.Extra[k] = cut(v, trimTextBytes)
		}
	}
	enc, _ = proto.Marshal(checkspb.EncodeResult(&t))
	return enc, true, len(enc) <= max
}

// trimList keeps the first and last trimLines lines, each cut to trimLineBytes.
func trimList(l []string) []string {
	if len(l) == 0 {
		return l
	}
	var out []string
	if len(l) > 2*trimLines {
		out = slices.Clone(l[:trimLines])
		out = append(out, fmt.Sprintf("[%d lines left out: the result was too large for the check plugins]", len(l)-2*trimLines))
		out = append(out, l[len(l)-trimLines:]...)
	} else {
		out = slices.Clone(l)
	}
	for i, s := range out {
		out[i] = cut(s, trimLineBytes)
	}
	return out
}

// cut shortens s to at most n bytes (on a rune boundary), saying so.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + fmt.Sprintf(" [%d bytes left out]", len(s)-i)
}
