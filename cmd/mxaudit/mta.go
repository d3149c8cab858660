package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/internal/inventory/formats"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
	"github.com/mxaudit/mxaudit/internal/pipeline"
)

// mtaFlags are the flags of our own MTA's TLS policy as the inventory (issue 14).
func mtaFlags() []cli.Flag {
	names := make([]string, len(formats.All))
	for i, f := range formats.All {
		names[i] = string(f)
	}
	return []cli.Flag{
		&cli.StringFlag{Name: "inventory-format", Usage: "the format of --inventory: " + strings.Join(names, ", ") + " (default: detected from the content)"},
		&cli.StringFlag{Name: "postfix-main-cf", Usage: "Postfix main.cf `FILE` with the defaults of the policy map (default: main.cf beside the policy map, if any)"},
		&cli.StringFlag{Name: "contacts", Usage: "partner CSV `FILE` whose partner names, contacts and notes are merged by domain into an MTA inventory"},
		&cli.StringFlag{Name: "what-if-level", Usage: "also decide every partner as if its Postfix policy had `LEVEL` (e.g. secure) and list those whose mail would stop"},
		&cli.BoolFlag{Name: "what-if-domain-secure", Usage: "also decide every partner as if its domain were on Exchange's TLSSendDomainSecureList"},
	}
}

// mtaConfig reads the MTA flags.
func mtaConfig(c *cli.Context) (pipeline.MTA, error) {
	m := pipeline.MTA{MainCF: c.String("postfix-main-cf"), Contacts: c.String("contacts"), WhatIfDomainSecure: c.Bool("what-if-domain-secure")}
	if s := c.String("inventory-format"); s != "" {
		f, err := formats.Parse(s)
		if err != nil {
			return m, fmt.Errorf("--inventory-format: %w", err)
		}
		m.Format = f
	}
	if s := c.String("what-if-level"); s != "" {
		l, err := mtapolicy.ParseLevel(s)
		if err != nil {
			return m, fmt.Errorf("--what-if-level: %w", err)
		}
		m.WhatIfLevel = &l
	}
	return m, nil
}
