package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/pipeline"
)

func probeCommand() *cli.Command {
	return &cli.Command{
		Name:      "probe",
		Usage:     "audit one partner domain (every MX and address) or host and explain the answer (instead of openssl s_client -starttls smtp)",
		ArgsUsage: "[flags] DOMAIN|HOST[:PORT]",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "address", Usage: "connect to `IP[:PORT]` instead of resolving HOST (HOST stays the name checked and the SNI)"},
			&cli.StringFlag{Name: "tls", Usage: "starttls or implicit (default: implicit on port 465)"},
			&cli.StringFlag{Name: "domain", Usage: "the partner's mail `DOMAIN`, for the Domain Security check"},
			&cli.BoolFlag{Name: "enforced", Usage: "the partner is on the enforced-TLS list"},
			&cli.StringFlag{Name: "expected-issuer", Usage: "pinned issuer DN (or a whole <I>issuer<S>subject pin)"},
			&cli.StringFlag{Name: "expected-subject", Usage: "pinned subject DN"},
			&cli.StringFlag{Name: "private-roots", Usage: "`DIR` of imported private root CAs", EnvVars: []string{"MXAUDIT_PRIVATE_ROOTS"}},
			&cli.StringFlag{Name: "roots", Usage: "use only the roots in `FILE` instead of the system roots"},
			&cli.StringFlag{Name: "helo", Usage: "`NAME` to send in EHLO"},
			&cli.DurationFlag{Name: "connect-timeout", Value: 10 * time.Second},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second},
			&cli.BoolFlag{Name: "transcript", Usage: "print the SMTP transcript"},
			&cli.BoolFlag{Name: "json", Usage: "print the run as results.json does instead of the explanation"},
			&cli.StringFlag{Name: "fail-on", Value: "error", Usage: "exit 1 at or above `SEVERITY`"},
		}, append(append(append(dnsFlags(), revocationFlags()...), clientCertFlags()...), checkFlags()...)...),
		Action: probeAction,
	}
}

// probeAction audits one partner through the same pipeline as scan (checks
// included, no history, nothing written) and explains the answer.
func probeAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("probe: want exactly one DOMAIN or HOST[:PORT]", exitUsage)
	}
	failOn, err := audit.ParseSeverity(c.String("fail-on"))
	if err != nil {
		return cli.Exit("--fail-on: "+err.Error(), exitUsage)
	}
	p, err := partnerFromArgs(c)
	if err != nil {
		return cli.Exit("probe: "+err.Error(), exitUsage)
	}
	chk, err := checksConfig(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	popts, err := probeOptions(c, nil)
	if err != nil {
		return err
	}
	cfg := pipeline.Config{
		Partners: []audit.Partner{p}, Trust: trustOptions(c), Revocation: revocationOptions(c),
		Probe: popts, Checks: chk, History: pipeline.History{Disabled: true},
		Logger: loggerAt(c, slog.LevelWarn), Problems: c.App.ErrWriter,
	}
	ctx, stop := pipeline.NotifyInterrupts(c.Context, exitNow)
	defer stop()
	res, err := pipeline.Scan(ctx, cfg)
	switch {
	case res != nil && c.Bool("json"):
		if err := printJSON(c, res); err != nil {
			return cli.Exit(err.Error(), exitInternal)
		}
	case res != nil && len(res.Partners) == 1:
		explainPartner(c.App.Writer, res, c.Bool("transcript"))
	}
	return exitWith(res, err, failOn)
}

func partnerFromArgs(c *cli.Context) (audit.Partner, error) {
	arg := c.Args().First()
	host, port := arg, 25
	if h, ps, err := net.SplitHostPort(arg); err == nil {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			return audit.Partner{}, fmt.Errorf("%q is not a port number", ps)
		}
		host, port = h, n
	}
	mode := audit.StartTLS
	if port == 465 {
		mode = audit.Implicit
	}
	switch strings.ToLower(c.String("tls")) {
	case "":
	case "starttls":
		mode = audit.StartTLS
	case "implicit":
		mode = audit.Implicit
	default:
		return audit.Partner{}, fmt.Errorf("--tls %q: want starttls or implicit", c.String("tls"))
	}
	p := audit.Partner{
		Name: host, Host: strings.ToLower(strings.TrimSuffix(host, ".")), Port: port, TLS: mode,
		Address: c.String("address"), Domain: c.String("domain"), Enforced: c.Bool("enforced"),
		ExpectedIssuer: c.String("expected-issuer"), ExpectedSubject: c.String("expected-subject"),
	}
	// A name alone is a mail domain: its MX hosts (or, without MX, its own
	// addresses) are probed; with --address or --domain it is the host.
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err != nil && p.Address == "" && p.Domain == "" {
		p.Domain, p.Host = p.Host, ""
	}
	return p, nil
}

// explain prints one partner's result for a person.
func explain(w io.Writer, r *audit.Result, transcript bool, now time.Time) {
	fmt.Fprintf(w, "%s (%s)", r.Partner.Target(), r.TLS)
	if r.SMTP.RemoteAddr != "" && r.SMTP.RemoteAddr != r.Partner.Target().DialAddress() {
		fmt.Fprintf(w, " at %s", r.SMTP.RemoteAddr)
	}
	fmt.Fprintf(w, ", %d ms\n", r.DurationMS)
	if len(r.SMTP.Greeting) > 0 {
		fmt.Fprintf(w, "  greeting:  %s\n", strings.Join(r.SMTP.Greeting, " / "))
	}
	if r.TLS == audit.StartTLS && len(r.SMTP.EHLO) > 0 {
		fmt.Fprintf(w, "  STARTTLS:  offered %v\n", r.SMTP.StartTLS)
	}
	if r.TLSVersion != "" {
		fmt.Fprintf(w, "  TLS:       %s, %s\n", r.TLSVersion, r.Cipher)
	}
	for i, ct := range r.Chain {
		fmt.Fprintf(w, "  cert %d:    %s\n", i, ct.Subject)
		fmt.Fprintf(w, "             issuer %s\n", ct.Issuer)
		fmt.Fprintf(w, "             valid %s to %s (%s), %s %d bits, %s\n",
			ct.NotBefore.Format(time.DateOnly), ct.NotAfter.Format(time.DateOnly), audit.DaysText(ct.NotAfter, now), ct.KeyType, ct.KeyBits, ct.SigAlg)
		if len(ct.DNSNames) > 0 {
			fmt.Fprintf(w, "             names %s\n", strings.Join(ct.DNSNames, ", "))
		}
		fmt.Fprintf(w, "             SHA-1 %s\n", ct.SHA1)
	}
	for _, ca := range r.Certificates { // one line per key type when the server holds several
		fmt.Fprintf(w, "  %-10s %s, %s: %v\n", ca.KeyType+":", ca.Chain[0].Subject, ca.TLSVersion, ca.Verdicts)
	}
	switch r.Root.Source {
	case audit.RootPrivate:
		fmt.Fprintf(w, "  root:      %s (imported private root, %s)\n", r.Root.Subject, r.Root.File)
	case audit.RootSystem:
		fmt.Fprintf(w, "  root:      %s (system roots)\n", r.Root.Subject)
	default:
		if r.Root.Subject != "" {
			fmt.Fprintf(w, "  root:      none trusted (chain points at %s)\n", r.Root.Subject)
		}
	}
	if rv := r.Revocation; rv != nil {
		line := rv.Method + ": " + rv.Status
		if rv.Status == "not checked" {
			line, rv.Detail = rv.Detail, ""
			if line == "" {
				line = "not checked"
			}
		}
		if !rv.NextUpdate.IsZero() {
			line += ", answer valid until " + rv.NextUpdate.Format(time.RFC3339)
		}
		if rv.Detail != "" {
			line += " (" + rv.Detail + ")"
		}
		fmt.Fprintf(w, "  revocation: %s\n", line)
	}
	fmt.Fprintf(w, "  verdict:   %s (%s)\n", r.Verdict, r.WorstSeverity())
	for _, v := range r.Verdicts {
		if d := r.Details[v]; d != "" {
			fmt.Fprintf(w, "    %-17s %s\n", v, d)
		}
	}
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  finding:   [%s] %s: %s\n", f.Severity, f.Check, f.Message)
	}
	if r.Remedy != "" {
		fmt.Fprintf(w, "  remedy:    %s\n", r.Remedy)
	}
	if transcript {
		fmt.Fprintln(w, "  transcript:")
		for _, l := range r.SMTP.Transcript {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
}
