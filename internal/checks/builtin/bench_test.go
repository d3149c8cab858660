package builtin_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks"
	"github.com/mxaudit/mxaudit/internal/checks/builtin"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/plugins/checkspb"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// benchResults builds n realistic results: an RSA-2048 leaf and
// intermediate (DER), EHLO lines and an SMTP transcript, ~2.7 KB each on the wire.
func benchResults(b testing.TB, n int) *audit.Results {
	ca, err := fleet.NewRoot(fleet.CertSpec{CommonName: "Bench Issuing CA", Org: "Example", RSABits: 2048, NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(4, 0, 0)})
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := ca.Issue(fleet.CertSpec{CommonName: "mx.bench.test", Org: "Partner", DNSNames: []string{"mx.bench.test", "mail.bench.test"},
		Key: ca.Key, NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(0, 0, 20)}) // one RSA key for both, as before
	if err != nil {
		b.Fatal(err)
	}
	chain := []audit.Cert{audit.NewCert(leaf.Cert), audit.NewCert(ca.Cert)}
	res := &audit.Results{Schema: audit.SchemaVersion, Started: now,
		PrivateRoots: []audit.PrivateRoot{{Subject: "CN=Bench Root", NotAfter: now.AddDate(0, 0, 30)}}}
	verdicts := []audit.Verdict{audit.Valid, audit.UntrustedRoot, audit.NameMismatch, audit.IssuerChanged}
	for i := range n {
		v := verdicts[i%len(verdicts)]
		res.Partners = append(res.Partners, audit.Result{
			Partner: audit.Partner{Name: fmt.Sprintf("partner-%05d", i), Domain: "bench.test", Host: "mx.bench.test", Port: 25,
				TLS: audit.StartTLS, Enforced: i%3 == 0, ExpectedIssuer: "CN=Bench Issuing CA, O=Example"},
			Verdict: v, Verdicts: []audit.Verdict{v}, Remedy: v.Remedy(), Chain: chain,
			TLSVersion: "TLS 1.2", Cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
			SMTP: audit.SMTP{
				Greeting:   []string{"220 mx.bench.test ESMTP ready"},
				EHLO:       []string{"mx.bench.test Hello", "SIZE 52428800", "8BITMIME", "PIPELINING", "STARTTLS", "ENHANCEDSTATUSCODES"},
				EHLOTLS:    []string{"mx.bench.test Hello", "SIZE 52428800", "8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES"},
				StartTLS:   true,
				Transcript: []string{"S: 220 mx.bench.test ESMTP ready", "C: EHLO audit.example", "S: 250-mx.bench.test Hello", "S: 250 STARTTLS", "C: STARTTLS", "S: 220 2.0.0 Ready to start TLS", "C: EHLO audit.example", "S: 250 mx.bench.test Hello", "C: QUIT", "S: 221 Bye"},
				TimingsMS:  map[string]int64{"connect": 3, "greeting": 12, "ehlo": 2, "starttls": 1, "handshake": 9, "ehlo_tls": 1},
				RemoteAddr: "127.0.0.1:25",
			},
		})
	}
	return res
}

func fresh(src *audit.Results) *audit.Results {
	res := *src
	res.Partners = append([]audit.Result(nil), src.Partners...)
	res.PrivateRoots = append([]audit.PrivateRoot(nil), src.PrivateRoots...)
	return &res
}

// BenchmarkBuiltinChecks10k runs all built-in checks over 10,000 results:
// over go-plugin (one plugin process, started outside the timer), with the
// process start included, and in-process (same server, no gRPC) for the baseline.
func BenchmarkBuiltinChecks10k(b *testing.B) {
	const n = 10000
	src := benchResults(b, n)
	b.Logf("one result is %d bytes on the wire", proto.Size(checkspb.EncodeResult(&src.Partners[0])))
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)

	b.Run("plugin", func(b *testing.B) {
		h := checks.Open(ctx, checks.Options{Builtin: builtinCmd, Logger: quiet})
		defer h.Close()
		for b.Loop() {
			res := fresh(src)
			if err := h.Check(ctx, res, checks.Selection{}, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plugin-with-start", func(b *testing.B) {
		for b.Loop() {
			h := checks.Open(ctx, checks.Options{Builtin: builtinCmd, Logger: quiet})
			if err := h.Check(ctx, fresh(src), checks.Selection{}, nil); err != nil {
				b.Fatal(err)
			}
			h.Close()
		}
	})
	b.Run("in-process", func(b *testing.B) {
		srv := sdk.NewServer(builtin.Checks()...)
		req := &checkspb.ConfigureRequest{}
		for _, c := range builtin.Checks() {
			req.Checks = append(req.Checks, &checkspb.CheckConfig{Name: c.Info().Name})
		}
		if _, err := srv.Configure(ctx, req); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			res := fresh(src)
			findings := 0
			for start := 0; start < n; start += checks.DefaultMaxBatch {
				end := min(start+checks.DefaultMaxBatch, n)
				cr := &checkspb.CheckRequest{Now: checkspb.Timestamp(res.Started)}
				for i := start; i < end; i++ {
					cr.Results = append(cr.Results, checkspb.EncodeResult(&res.Partners[i]))
				}
				out, err := srv.Check(ctx, cr)
				if err != nil {
					b.Fatal(err)
				}
				findings += len(out.Findings)
			}
			if findings == 0 {
				b.Fatal("no findings")
			}
		}
	})
}
