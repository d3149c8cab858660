package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/history"
	"github.com/mxaudit/mxaudit/internal/mailing"
	"github.com/mxaudit/mxaudit/internal/regfile"
	"github.com/mxaudit/mxaudit/internal/trust"
	"github.com/mxaudit/mxaudit/reports"
	"github.com/mxaudit/mxaudit/templates"
)

// passwordEnv is the only place besides --smtp-password-file the SMTP password is read from.
const passwordEnv = "MXAUDIT_SMTP_PASSWORD"

func mailCommand() *cli.Command {
	return &cli.Command{
		Name:  "mail",
		Usage: "e-mail each partner its own report, and the audit owner the full one",
		UsageText: "mxaudit mail --from results.json --sender ADDR --smtp HOST:PORT [--smtp-user USER] [--to-owner ADDR]\n" +
			"mxaudit mail --run ID --sender ADDR --dry-run --out DIR\n\n" +
			"Each partner with a contact gets one message per address, covering every inventory row of its\n" +
			"name, with its per-partner PDF and a text for its situation (failing, root-successor: the root CA\n" +
			"we imported from it expires, expiring soon, all good; templates mail-*.tmpl). Findings about our\n" +
			"own side never reach a partner. The password is read from $" + passwordEnv + "\n" +
			"or --smtp-password-file, never from the command line. A send log (mail-log.json beside\n" +
			"results.json or the history database) makes a second run send nothing twice.\n" +
			"Exit code 1 when a message could not be delivered.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "results.json `FILE` of the run to mail"},
			&cli.Int64Flag{Name: "run", Usage: "mail run `ID` of the history database (see mxaudit history)"},
			&cli.StringFlag{Name: "run-label", Usage: "mail the shards of run `LABEL` put together (once every shard has finished)"},
			&cli.StringFlag{Name: "vantage", Usage: "with --run-label: the runs from vantage point `NAME` (needed when the label has several)"},
			dbFlag(),
			&cli.StringFlag{Name: "sender", Usage: "From `ADDR`ess of the messages", EnvVars: []string{"MXAUDIT_MAIL_SENDER"}},
			&cli.StringFlag{Name: "to-owner", Usage: "also send the full report and workbook to `ADDR` (comma-separated for several)"},
			&cli.BoolFlag{Name: "only-failing", Usage: "mail only partners with a TLS problem (not those expiring soon, asked for a root successor, or all good)"},
			&cli.StringSliceFlag{Name: "partners", Usage: "mail only these partners, by `NAME` (comma-separated or repeated)"},
			&cli.BoolFlag{Name: "attach-xlsx", Usage: "attach each partner's own rows as a workbook too"},
			&cli.IntFlag{Name: "expiring-days", Usage: "a certificate of the chain, or the imported root it ends in, expiring within `N` days makes a partner \"expiring soon\" (also in the owner's count); default: the run's [thresholds] expiry_warning_days (30)"},
			&cli.StringFlag{Name: "smtp", Usage: "submission server `HOST:PORT` (587 STARTTLS, 465 implicit TLS)", EnvVars: []string{"MXAUDIT_SMTP"}},
			&cli.StringFlag{Name: "smtp-tls", Usage: "`MODE` starttls or implicit (default: implicit on port 465, else starttls)"},
			&cli.StringFlag{Name: "smtp-user", Usage: "authenticate as `USER` (password from $" + passwordEnv + " or --smtp-password-file)", EnvVars: []string{"MXAUDIT_SMTP_USER"}},
			&cli.StringFlag{Name: "smtp-password-file", Usage: "read the SMTP password from `FILE` (first line)"},
			&cli.StringFlag{Name: "smtp-auth", Value: mailing.AuthAuto, Usage: "AUTH `MECHANISM`: auto (PLAIN if offered, else LOGIN), plain or login"},
			&cli.StringFlag{Name: "helo", Usage: "`NAME` to say in EHLO (default: this host's name)"},
			&cli.DurationFlag{Name: "smtp-timeout", Value: 30 * time.Second, Usage: "connection and command timeout"},
			&cli.StringFlag{Name: "private-roots", Usage: "`DIR` of private root CAs the server certificate may chain to", EnvVars: []string{"MXAUDIT_PRIVATE_ROOTS"}},
			&cli.StringFlag{Name: "roots", Usage: "trust only the roots in `FILE` for the server certificate instead of the system roots"},
			&cli.BoolFlag{Name: "dry-run", Usage: "write each message as a .eml file into --out instead of sending"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "`DIR` for the .eml files of --dry-run"},
			&cli.BoolFlag{Name: "resend", Usage: "send again what the send log says was sent"},
			&cli.StringFlag{Name: "send-log", Usage: "send log `FILE` (default: mail-log.json beside results.json or the history database)"},
			&cli.IntFlag{Name: "retries", Value: 3, Usage: "retry a temporary failure (4xx, network) `N` times"},
			&cli.DurationFlag{Name: "retry-wait", Value: 10 * time.Second, Usage: "wait before the first retry; doubles after each"},
			&cli.Float64Flag{Name: "rate", Value: 30, Usage: "send at most `N` messages per minute (0: no limit)"},
			&cli.StringFlag{Name: "templates", Usage: "override the wording with the *.tmpl files (mail-*.tmpl for the messages) in `DIR`"},
			&cli.StringFlag{Name: "font", Usage: "TrueType `FILE` for CJK text in the PDFs"},
			&cli.StringFlag{Name: "org", Usage: "organisation `NAME` (default: the organisation.tmpl template)"},
		},
		Action: mailAction,
	}
}

func usage(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), exitUsage)
}

func mailAction(c *cli.Context) error {
	if err := checkMailFlags(c); err != nil {
		return err
	}
	src, logPath, err := mailSource(c)
	if err != nil {
		return err
	}
	defer src.close()
	tr, err := mailTransport(c)
	if err != nil {
		return err
	}
	defer tr.Close()
	compose, err := mailComposeOptions(c)
	if err != nil {
		return err
	}
	sendLog, err := mailing.OpenLog(logPath)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	dry := c.Bool("dry-run")
	n, err := mailing.MailFrom(ctx, src.head, src.each, tr, mailing.Job{Compose: compose, DryRun: dry, Out: c.App.Writer, Deliver: mailing.DeliverOptions{
		RunID: c.Int64("run"), Log: sendLog, Resend: c.Bool("resend"),
		Retries: c.Int("retries"), Backoff: c.Duration("retry-wait"), Rate: c.Float64("rate"),
	}})
	if err != nil {
		return composeExit(err)
	}
	verb := map[bool]string{false: "sent", true: "written"}[dry]
	logger(c).Info("mail done", verb, n.Sent, "already_sent", n.AlreadySent, "failed", n.Failed, "skipped", n.Skipped, "send_log", sendLog.Path())
	if n.Failed > 0 {
		return cli.Exit(fmt.Sprintf("mail: %d message(s) could not be delivered", n.Failed), exitFindings)
	}
	return nil
}

// checkMailFlags refuses the combinations of flags mail cannot run with.
func checkMailFlags(c *cli.Context) error {
	switch dry := c.Bool("dry-run"); {
	case countSet(c, "from", "run", "run-label") != 1:
		return usage("mail: give exactly one of --from FILE, --run ID or --run-label LABEL")
	case c.String("sender") == "":
		return usage("mail: --sender ADDR is required (the From address)")
	case dry && c.String("out") == "":
		return usage("mail: --dry-run needs --out DIR for the .eml files")
	case !dry && c.String("smtp") == "":
		return usage("mail: --smtp HOST:PORT is required (or --dry-run --out DIR)")
	}
	return nil
}

// mailSource opens the run to mail (--from or --run; read a partner at a
// time on every pass) and says where its send log is.
func mailSource(c *cli.Context) (*runSource, string, error) {
	src, err := pastRun(c)
	if err != nil {
		return nil, "", err
	}
	if p := c.String("send-log"); p != "" {
		return src, p, nil
	}
	if history.IsURL(src.from) {
		src.close()
		return nil, "", usage("mail --run or --run-label with a PostgreSQL history: name the send log with --send-log FILE")
	}
	return src, mailing.LogBeside(src.from), nil
}

// mailTransport is the dry run's folder or the SMTP server, checked before the (slower) rendering of the PDFs.
func mailTransport(c *cli.Context) (mailing.Transport, error) {
	if c.Bool("dry-run") {
		return &mailing.Dir{Path: c.String("out"), Forget: true}, nil
	}
	return smtpTransport(c, logger(c))
}

// mailComposeOptions reads what to compose from the flags.
func mailComposeOptions(c *cli.Context) (mailing.Options, error) {
	tpl, err := templates.Load(c.String("templates"))
	if err != nil {
		return mailing.Options{}, usage("--templates: %v", err)
	}
	ropts := reports.Options{Org: c.String("org"), Templates: tpl, Warn: func(s string) { logger(c).Warn(s) }}
	if p := c.String("font"); p != "" {
		if ropts.CJKFont, err = reports.LoadFont(p); err != nil {
			return mailing.Options{}, usage("--font: %v", err)
		}
	}
	var partners []string
	for _, p := range c.StringSlice("partners") {
		if p = strings.TrimSpace(p); p != "" {
			partners = append(partners, p)
		}
	}
	return mailing.Options{
		Sender: c.String("sender"), Owner: c.String("to-owner"), Partners: partners, OnlyFailing: c.Bool("only-failing"),
		XLSX: c.Bool("attach-xlsx"), ExpiringDays: c.Int("expiring-days"), Reports: ropts,
	}, nil
}

// composeExit maps Compose's errors to exit codes: a bad --partners or address is a usage error.
func composeExit(err error) error {
	var upe *mailing.UnknownPartnerError
	var ae *mailing.AddressError
	switch {
	case errors.As(err, &upe):
		return usage("--partners: %v", err)
	case errors.As(err, &ae):
		return usage("mail: --%s: %v", map[string]string{"sender": "sender", "owner": "to-owner"}[ae.Option], err)
	}
	return cli.Exit("mail: "+err.Error(), exitInternal)
}

// smtpTransport builds the SMTP transport from the flags; the password comes from the environment or a file only.
func smtpTransport(c *cli.Context, log interface{ Warn(string, ...any) }) (*mailing.SMTP, error) {
	var pass string
	if p := c.String("smtp-password-file"); p != "" {
		var err error
		if pass, err = regfile.ReadSecret(p); err != nil {
			return nil, usage("--smtp-password-file: %v", err)
		}
		if pass == "" {
			return nil, usage("--smtp-password-file %s: empty first line", p)
		}
	} else {
		pass = os.Getenv(passwordEnv)
	}
	user := c.String("smtp-user")
	switch {
	case user != "" && pass == "":
		return nil, usage("mail: --smtp-user needs a password in $%s or --smtp-password-file", passwordEnv)
	case user == "" && pass != "":
		log.Warn("a password is set but --smtp-user is not: not authenticating")
		pass = ""
	}
	st, err := trust.New(trust.Options{PrivateDir: c.String("private-roots"), RootsFile: c.String("roots")})
	if err != nil {
		return nil, usage("mail: %v", err)
	}
	mode := audit.TLSMode(c.String("smtp-tls"))
	if mode != "" && mode != audit.StartTLS && mode != audit.Implicit {
		return nil, usage("--smtp-tls %q: want starttls or implicit", mode)
	}
	tr, err := mailing.NewSMTP(mailing.SMTPConfig{
		Addr: c.String("smtp"), TLS: mode, Roots: st.Pool, User: user, Password: pass,
		Auth: c.String("smtp-auth"), HELO: c.String("helo"), Timeout: c.Duration("smtp-timeout"),
	})
	if err != nil {
		return nil, usage("mail: %v", err)
	}
	return tr, nil
}
