package main

import (
	"crypto/tls"
	"log/slog"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/internal/probe"
	"github.com/mxaudit/mxaudit/internal/regfile"
)

// clientKeyPasswordEnv is the only place besides --client-key-password-file
// the password of a .pfx is read from.
const clientKeyPasswordEnv = "MXAUDIT_CLIENT_KEY_PASSWORD"

// clientCertFlags are the flags of the client certificate a probe presents (mutual TLS).
func clientCertFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "client-cert", Usage: "present the client certificate in `FILE` when a partner asks (mutual TLS, as Exchange Domain Security does): PEM chain, or a PKCS#12 .pfx/.p12 with its key (password from $" + clientKeyPasswordEnv + " or --client-key-password-file)"},
		&cli.StringFlag{Name: "client-key", Usage: "the PEM private key of --client-cert, from `FILE` (not for .pfx)"},
		&cli.StringFlag{Name: "client-key-password-file", Usage: "read the .pfx password from `FILE` (first line)"},
	}
}

// loadClientCert reads --client-cert and --client-key; nil when not given.
// The password comes from a file or the environment only and is never printed.
func loadClientCert(c *cli.Context, log *slog.Logger, now time.Time) (*tls.Certificate, error) {
	certFile, keyFile := c.String("client-cert"), c.String("client-key")
	if certFile == "" {
		if keyFile != "" {
			return nil, usage("--client-key needs --client-cert")
		}
		return nil, nil
	}
	password := os.Getenv(clientKeyPasswordEnv)
	if f := c.String("client-key-password-file"); f != "" {
		var err error
		if password, err = regfile.ReadSecret(f); err != nil {
			return nil, usage("--client-key-password-file: %v", err)
		}
	}
	cert, err := probe.LoadClientCert(certFile, keyFile, password)
	if err != nil {
		return nil, usage("--client-cert: %v", err)
	}
	for _, p := range probe.ClientCertProblems(cert, now) {
		log.Warn(p, "file", certFile)
	}
	log.Info("client certificate for partners that ask for one", "certificate", probe.ClientCertSummary(cert))
	return cert, nil
}

// probeSettings are the probe's options from the flags; it logs the EHLO name used.
func probeSettings(c *cli.Context, log *slog.Logger, now time.Time) (probe.Options, error) {
	cert, err := loadClientCert(c, log, now)
	if err != nil {
		return probe.Options{}, err
	}
	log.Info(probe.HELOSource(c.String("helo")))
	return probe.Options{HELO: c.String("helo"), ConnectTimeout: c.Duration("connect-timeout"),
		Timeout: c.Duration("timeout"), ClientCert: cert}, nil
}
