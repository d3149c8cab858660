package fleet

import (
	"encoding/binary"
	"io"
	"net"
	"time"
)

// garbageServerHello answers a ClientHello with a TLS 1.2 ServerHello and a
// Certificate message whose certificate is not DER at all, as a broken
// appliance might: the client must fail the handshake, not crash.
func garbageServerHello(c net.Conn) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return
	}
	if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint16(hdr[3:]))); err != nil {
		return
	}
	hello := []byte{0x03, 0x03}
	hello = append(hello, make([]byte, 32)...) // random
	hello = append(hello, 0)                   // session id
	hello = append(hello, 0xc0, 0x2f)          // ECDHE-RSA-AES128-GCM-SHA256
	hello = append(hello, 0)                   // no compression
	junk := []byte("this is not a DER certificate at all")
	cert := append(u24(len(junk)), junk...)
	certs := append(u24(len(cert)), cert...)
	var out []byte
	out = append(out, record(handshake(2, hello))...)
	out = append(out, record(handshake(11, certs))...)
	out = append(out, record(handshake(14, nil))...) // ServerHelloDone: Go's client reads one more message before it parses the certificates
	c.Write(out)
	io.Copy(io.Discard, io.LimitReader(c, 1<<16))
}

func u24(n int) []byte { return []byte{byte(n >> 16), byte(n >> 8), byte(n)} }

func handshake(typ byte, body []byte) []byte {
	return append(append([]byte{typ}, u24(len(body))...), body...)
}

func record(b []byte) []byte {
	return append([]byte{22, 3, 3, byte(len(b) >> 8), byte(len(b))}, b...)
}
