package fleet

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// DNSMisbehaviour is what a hostile DNS server does instead of answering a name.
type DNSMisbehaviour int

// The ways DNSServer can misbehave for a name (see DNSServer.Misbehave).
const (
	DNSBehave        DNSMisbehaviour = iota // answer normally
	DNSSilent                               // never answer
	DNSGarbage                              // answer bytes that are no DNS message
	DNSWrongID                              // answer with another message ID, then (over UDP) the right answer
	DNSWrongQuestion                        // answer another question, then (over UDP) the right answer
	DNSOnlyWrong                            // answer with the wrong ID and the wrong question only
	DNSHuge                                 // answer 64 KiB over TCP: thousands of records (truncated over UDP)
)

// DNSOptions configure a DNSServer.
type DNSOptions struct {
	Addr    string        // listen address; default 127.0.0.1:0 (the same port for UDP and TCP)
	Delay   time.Duration // added before every answer
	MaxUDP  int           // answers larger than this over UDP are truncated (TC bit); default 512, or the query's EDNS0 size if larger
	NoEDNS0 bool          // ignore the query's EDNS0 size: truncate at MaxUDP always
	AD      bool          // set the AD bit in answers, as a validating resolver does for secure data
	// SecureZones get the AD bit in answers for names at or under them
	// (and their NXDOMAIN), as a validating resolver gives for a signed zone.
	SecureZones []string
}

// DNSServer is an authoritative DNS server in process, over UDP and TCP on
// one loopback port, with configurable zone data, rcodes, delay and hostile
// behaviour per name, that counts the queries it gets.
type DNSServer struct {
	Addr string // host:port of both listeners

	opts     DNSOptions
	mu       sync.Mutex
	records  map[string][]mdns.RR // by lower-case FQDN
	rcodes   map[string]int       // forced rcode by lower-case FQDN
	hostile  map[string]DNSMisbehaviour
	queries  map[string]int // "name/TYPE" -> count
	tcp      atomic.Int64
	total    atomic.Int64
	udpSrv   *mdns.Server
	tcpSrv   *mdns.Server
	closeOne sync.Once
}

// NewDNSServer starts a DNS server serving records (zone-file lines, e.g.
// "example.com. 300 IN MX 10 mx.example.com.").
func NewDNSServer(opts DNSOptions, records ...string) (*DNSServer, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.MaxUDP == 0 {
		opts.MaxUDP = mdns.MinMsgSize
	}
	s := &DNSServer{opts: opts, records: map[string][]mdns.RR{}, rcodes: map[string]int{},
		hostile: map[string]DNSMisbehaviour{}, queries: map[string]int{}}
	if err := s.Add(records...); err != nil {
		return nil, err
	}
	tl, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("fleet dns: %w", err)
	}
	pc, err := net.ListenPacket("udp", tl.Addr().String())
	if err != nil {
		tl.Close()
		return nil, fmt.Errorf("fleet dns: %w", err)
	}
	s.Addr = tl.Addr().String()
	started := make(chan error, 2)
	notify := func() { started <- nil }
	s.udpSrv = &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(s.serve), NotifyStartedFunc: notify}
	s.tcpSrv = &mdns.Server{Listener: tl, Handler: mdns.HandlerFunc(s.serve), NotifyStartedFunc: notify,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	go func() {
		if err := s.udpSrv.ActivateAndServe(); err != nil {
			started <- err
		}
	}()
	go func() {
		if err := s.tcpSrv.ActivateAndServe(); err != nil {
			started <- err
		}
	}()
	for range 2 {
		if err := <-started; err != nil {
			s.Close()
			return nil, fmt.Errorf("fleet dns: %w", err)
		}
	}
	return s, nil
}

// Add adds records given as zone-file lines.
func (s *DNSServer) Add(records ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, line := range records {
		rr, err := mdns.NewRR(line)
		if err != nil {
			return fmt.Errorf("fleet dns: record %d %q: %w", i+1, line, err)
		}
		if rr == nil {
			continue
		}
		name := strings.ToLower(rr.Header().Name)
		s.records[name] = append(s.records[name], rr)
	}
	return nil
}

// SetRcode makes every query for name answer rcode (e.g. dns.RcodeServerFailure); 0 restores normal answers.
func (s *DNSServer) SetRcode(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcodes[key(name)] = rcode
}

// Misbehave makes the server misbehave for every query for name.
func (s *DNSServer) Misbehave(name string, m DNSMisbehaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hostile[key(name)] = m
}

// Queries returns how many queries for name and type (e.g. "MX") the server got, over UDP and TCP.
func (s *DNSServer) Queries(name, qtype string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[key(name)+"/"+strings.ToUpper(qtype)]
}

// Total returns how many queries the server got; TCP how many of them came over TCP.
func (s *DNSServer) Total() (all, tcp int) { return int(s.total.Load()), int(s.tcp.Load()) }

// Close stops both listeners.
func (s *DNSServer) Close() {
	s.closeOne.Do(func() {
		if s.udpSrv != nil {
			s.udpSrv.Shutdown()
		}
		if s.tcpSrv != nil {
			s.tcpSrv.Shutdown()
		}
	})
}

// secure reports whether name is in one of the SecureZones.
func (s *DNSServer) secure(name string) bool {
	for _, z := range s.opts.SecureZones {
		z = key(z)
		if name == z || strings.HasSuffix(name, "."+z) {
			return true
		}
	}
	return false
}

func key(name string) string { return strings.ToLower(mdns.Fqdn(name)) }

func (s *DNSServer) serve(w mdns.ResponseWriter, req *mdns.Msg) {
	defer w.Close()
	_, overTCP := w.RemoteAddr().(*net.TCPAddr)
	s.total.Add(1)
	if overTCP {
		s.tcp.Add(1)
	}
	if len(req.Question) != 1 {
		m := new(mdns.Msg)
		m.SetRcode(req, mdns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := key(q.Name)
	s.mu.Lock()
	s.queries[name+"/"+mdns.TypeToString[q.Qtype]]++
	rcode, forced := s.rcodes[name]
	how := s.hostile[name]
	m := s.answer(req, name, q.Qtype)
	s.mu.Unlock()
	if s.opts.Delay > 0 {
		time.Sleep(s.opts.Delay)
	}
	if forced && rcode != 0 {
		m = new(mdns.Msg)
		m.SetRcode(req, rcode)
	}
	switch how {
	case DNSSilent:
		return
	case DNSGarbage:
		w.Write([]byte("\x00\x01 this is not a DNS message \xff\xfe"))
		return
	case DNSWrongID, DNSWrongQuestion, DNSOnlyWrong:
		bad := m.Copy()
		if how == DNSWrongQuestion {
			bad.Question[0].Name = "wrong." + bad.Question[0].Name
		} else {
			bad.Id++
		}
		if how == DNSOnlyWrong {
			bad.Question[0].Name = "wrong." + bad.Question[0].Name
		}
		w.WriteMsg(bad)
		if how == DNSOnlyWrong || overTCP {
			return
		}
	case DNSHuge:
		for i := range 4000 {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60},
				A: net.IPv4(127, byte(10+i>>16), byte(i>>8), byte(i))})
		}
		m.Compress = true
	}
	if !overTCP {
		size := s.opts.MaxUDP
		if opt := req.IsEdns0(); opt != nil && !s.opts.NoEDNS0 && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	} else if m.Len() > mdns.MaxMsgSize {
		m.Truncate(mdns.MaxMsgSize)
	}
	w.WriteMsg(m)
}

// answer builds the authoritative answer for name/qtype, following CNAMEs
// within the server's data. Callers hold s.mu.
func (s *DNSServer) answer(req *mdns.Msg, name string, qtype uint16) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.AuthenticatedData = s.opts.AD || s.secure(name)
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	for hop := 0; hop < 8; hop++ {
		rrs, ok := s.records[name]
		if !ok {
			if hop == 0 && !s.hasChildren(name) {
				m.Rcode = mdns.RcodeNameError
			}
			break
		}
		var cname *mdns.CNAME
		for _, rr := range rrs {
			if rr.Header().Rrtype == qtype || qtype == mdns.TypeANY {
				m.Answer = append(m.Answer, mdns.Copy(rr))
			} else if c, ok := rr.(*mdns.CNAME); ok {
				cname = c
			}
		}
		if cname == nil || qtype == mdns.TypeCNAME {
			break
		}
		m.Answer = append(m.Answer, mdns.Copy(cname))
		name = strings.ToLower(cname.Target)
	}
	if len(m.Answer) == 0 {
		soa, _ := mdns.NewRR(". 60 IN SOA ns.fleet.test. hostmaster.fleet.test. 1 3600 600 86400 60")
		m.Ns = append(m.Ns, soa)
	}
	return m
}

func (s *DNSServer) hasChildren(name string) bool {
	for n := range s.records {
		if strings.HasSuffix(n, "."+name) {
			return true
		}
	}
	return false
}

// DNSRecords returns zone data for the fleet's partners: an A (or AAAA)
// record for each host with an address, an MX record naming the host for
// each partner's domain, and the zone of the domain partners
// (Options.Domains), so a run can discover the fleet through DNS.
func (f *Fleet) DNSRecords() []string {
	var out []string
	seen := map[string]bool{}
	add := func(line string) {
		if !seen[line] {
			seen[line] = true
			out = append(out, line)
		}
	}
	for _, sc := range f.Scenarios {
		p := sc.Partner
		host, _, err := net.SplitHostPort(p.Address)
		if p.Host == "" || err != nil {
			continue
		}
		ip := net.ParseIP(host)
		switch {
		case ip == nil:
			continue
		case ip.To4() != nil:
			add(fmt.Sprintf("%s 300 IN A %s", mdns.Fqdn(p.Host), ip))
		default:
			add(fmt.Sprintf("%s 300 IN AAAA %s", mdns.Fqdn(p.Host), ip))
		}
		if p.Domain != "" && sc.Domain == nil {
			add(fmt.Sprintf("%s 300 IN MX 10 %s", mdns.Fqdn(p.Domain), mdns.Fqdn(p.Host)))
		}
	}
	for _, line := range f.zone {
		add(line)
	}
	return out
}

// ServeDNS starts a DNSServer with DNSRecords (plus extra records); it stops with the fleet.
func (f *Fleet) ServeDNS(opts DNSOptions, extra ...string) (*DNSServer, error) {
	opts.SecureZones = append(opts.SecureZones, f.secure...)
	s, err := NewDNSServer(opts, append(f.DNSRecords(), extra...)...)
	if err != nil {
		return nil, err
	}
	for name, rcode := range f.rcodes {
		s.SetRcode(name, rcode)
	}
	f.closers = append(f.closers, s.Close)
	return s, nil
}
