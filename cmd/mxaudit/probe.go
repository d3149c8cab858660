package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/pipeline"
	"github.com/mxaudit/mxaudit/reports"
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
	chk, th, err := checksConfig(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	popts, err := probeOptions(c, nil)
	if err != nil {
		return err
	}
	cfg := pipeline.Config{
		Partners: []audit.Partner{p}, Trust: trustOptions(c), Revocation: revocationOptions(c),
		Probe: popts, Thresholds: th, Checks: chk, History: pipeline.History{Disabled: true}, Hold: true,
		Logger: loggerAt(c, slog.LevelWarn), Problems: c.App.ErrWriter,
	}
	ctx, stop := pipeline.NotifyInterrupts(c.Context, exitNow)
	defer stop()
	res, err := pipeline.Scan(ctx, cfg)
	switch {
	case res != nil && c.Bool("json"):
		if err := printJSON(c, res.Results); err != nil {
			return cli.Exit(err.Error(), exitInternal)
		}
	case res != nil && len(res.Partners) == 1:
		if err := reports.WriteProbeExplanation(c.App.Writer, res.Results, 0, c.Bool("transcript")); err != nil {
			return cli.Exit(err.Error(), exitInternal)
		}
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
	mode, err := audit.ParseTLSMode(c.String("tls"), port)
	if err != nil {
		return audit.Partner{}, fmt.Errorf("--tls: %w", err)
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
