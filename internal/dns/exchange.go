package dns

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// exchange asks the configured servers for name/qtype in their order
// (as resolv.conf means them), attempt after attempt, and returns the
// first answer with RCODE NOERROR or NXDOMAIN.
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*mdns.Msg, string, error) {
	var last *Error
	for attempt := 0; attempt < r.cfg.Attempts; attempt++ {
		server := r.servers[attempt%len(r.servers)]
		msg, err := r.attempt(ctx, server, name, qtype)
		if ctx.Err() != nil {
			return nil, server, r.fail(name, qtype, Timeout, -1, server, ctx.Err())
		}
		if err != nil {
			last = err
			continue
		}
		switch msg.Rcode {
		case mdns.RcodeSuccess, mdns.RcodeNameError:
			return msg, server, nil
		case mdns.RcodeServerFailure, mdns.RcodeRefused:
			// Another resolver may do better; the same one would say the same.
			last = r.fail(name, qtype, kindOf(msg.Rcode), msg.Rcode, server, nil)
			last.Validation, _ = ValidationFailure(msg)
			if attempt+1 < len(r.servers) {
				continue
			}
			return nil, server, last
		default:
			return nil, server, r.fail(name, qtype, OtherCode, msg.Rcode, server, nil)
		}
	}
	return nil, last.Server, last
}

func (r *Resolver) fail(name string, qtype uint16, kind Kind, rcode int, server string, err error) *Error {
	return &Error{Name: strings.TrimSuffix(name, "."), Type: typeName(qtype), Kind: kind, Rcode: rcode, Server: server, Err: err}
}

// attempt asks one server once: over UDP, and over TCP when the UDP answer is truncated.
func (r *Resolver) attempt(ctx context.Context, server, name string, qtype uint16) (*mdns.Msg, *Error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	q := new(mdns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = true
	q.AuthenticatedData = true // RFC 6840 5.7: ask for the AD bit without DNSSEC records
	q.SetEdns0(ednsSize, false)
	out, err := q.Pack()
	if err != nil {
		return nil, r.fail(name, qtype, BadName, -1, server, err)
	}
	r.queries.Add(1)
	msg, err := r.udp(ctx, server, q, out)
	if err == nil && msg.Truncated {
		r.tcpQueries.Add(1)
		msg, err = r.tcp(ctx, server, q, out)
	}
	if err == nil {
		return msg, nil
	}
	var ne net.Error
	switch {
	case ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout():
		return nil, r.fail(name, qtype, Timeout, -1, server, err)
	case errors.Is(err, errMismatch) || errors.Is(err, errGarbage):
		return nil, r.fail(name, qtype, Malformed, -1, server, err)
	}
	return nil, r.fail(name, qtype, Network, -1, server, err)
}

// buffers hold UDP datagrams of any size a server may send.
var buffers = sync.Pool{New: func() any { b := make([]byte, maxMessage); return &b }}

var (
	errMismatch = errors.New("the answer is for another query")
	errGarbage  = errors.New("the answer is not a DNS message")
)

// dial connects to server with ctx's deadline on the connection (and an
// early end of ctx cutting it short); done closes it.
func dial(ctx context.Context, network, server string) (net.Conn, func(), error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	return c, func() { stop(); c.Close() }, nil
}

// udp sends the query and waits for its answer, ignoring datagrams that
// are not DNS messages or answer another ID or question (spoofed or late
// answers) until the deadline.
func (r *Resolver) udp(ctx context.Context, server string, q *mdns.Msg, out []byte) (*mdns.Msg, error) {
	c, done, err := dial(ctx, "udp", server)
	if err != nil {
		return nil, err
	}
	defer done()
	if _, err := c.Write(out); err != nil {
		return nil, err
	}
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	var ignored error
	for {
		n, err := c.Read(buf)
		if err != nil {
			if ignored != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					return nil, fmt.Errorf("%w; ignored before: %w", err, ignored)
				}
			}
			return nil, err
		}
		m, err := matching(q, bytes.Clone(buf[:n])) // the message must not share the pooled buffer
		if err != nil {
			ignored = err
			continue
		}
		return m, nil
	}
}

// tcp asks over TCP: one length-prefixed query, one length-prefixed answer (at most 64 KiB).
func (r *Resolver) tcp(ctx context.Context, server string, q *mdns.Msg, out []byte) (*mdns.Msg, error) {
	c, done, err := dial(ctx, "tcp", server)
	if err != nil {
		return nil, err
	}
	defer done()
	framed := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(out)), uint16(len(out)))
	if _, err := c.Write(append(framed, out...)); err != nil {
		return nil, err
	}
	var n [2]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, fmt.Errorf("reading the answer's length over TCP: %w", err)
	}
	buf := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, fmt.Errorf("reading a %d-byte answer over TCP: %w", len(buf), err)
	}
	return matching(q, buf)
}

// matching parses an answer and checks that it answers q.
func matching(q *mdns.Msg, b []byte) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	if err := m.Unpack(b); err != nil {
		return nil, fmt.Errorf("%w: %w", errGarbage, err)
	}
	if !m.Response || m.Id != q.Id {
		return nil, fmt.Errorf("%w: ID %d, want %d", errMismatch, m.Id, q.Id)
	}
	if len(m.Question) != 1 || m.Question[0].Qtype != q.Question[0].Qtype ||
		m.Question[0].Qclass != q.Question[0].Qclass || !strings.EqualFold(m.Question[0].Name, q.Question[0].Name) {
		return nil, fmt.Errorf("%w: question %v", errMismatch, m.Question)
	}
	return m, nil
}
