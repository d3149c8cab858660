package main

import (
	"errors"
	"net"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/internal/fleet"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "start a simulated partner fleet on 127.0.0.0/8 and audit it with the normal scan",
		Description: "Starts real SMTP servers with real TLS and a generated PKI on loopback addresses\n" +
			"and ::1, one partner per verdict plus hostile servers and partners known by their domain\n" +
			"only (some publishing DANE, MTA-STS and TLS-RPT: a signed zone, a policy host), and a DNS\n" +
			"server on 127.0.0.1 for their records; writes their inventory and roots\n" +
			"into --out/fleet, and runs `scan` on them with --resolver set to that DNS server.\n" +
			"Nothing leaves this machine.",
		Flags:  withEnv(demoFlags()),
		Before: applyConfigFile,
		Action: demoAction,
	}
}

// demoAction starts the fleet and its DNS server, points the scan at that
// server and the flags the user did not set at its inventory, roots and a
// history database of its own, and scans it.
func demoAction(c *cli.Context) error {
	f, err := fleet.Start(fleet.Options{Hostile: true, Domains: true, Policies: true})
	if err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	defer f.Close()
	ns, err := f.ServeDNS(fleet.DNSOptions{}) // the fleet's domains, found as a scan finds any
	if err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	inv, err := pointAtFleet(c, f, ns.Addr)
	if err != nil {
		return err
	}
	logger(c).Info("demo fleet started on 127.0.0.0/8", "partners", len(f.Scenarios), "inventory", inv)
	// The fleet is broken on purpose: findings are the demo's point, not a failure.
	err = scan(c, nil)
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() == exitFindings {
		return nil
	}
	return err
}

// pointAtFleet writes the fleet's inventory and roots under --out/fleet and
// points the scan's flags at them, at the fleet's DNS server and at its
// MTA-STS policy host; it returns the inventory's path.
func pointAtFleet(c *cli.Context, f *fleet.Fleet, dnsAddr string) (string, error) {
	dir := filepath.Join(c.String("out"), "fleet")
	if err := mkdir(dir); err != nil {
		return "", cli.Exit(err.Error(), exitInternal)
	}
	inv, roots, priv, err := f.WriteFiles(dir)
	if err != nil {
		return "", cli.Exit(err.Error(), exitInternal)
	}
	// The fleet's domains exist only in its DNS server: always ask it. Its
	// MTA-STS policy host cannot bind port 443. The demo keeps its history
	// beside its reports, not in the user's database.
	set := map[string]string{"resolver": dnsAddr, "sts-port": portOf(f.Policies.Addr)}
	for name, val := range map[string]string{"inventory": inv, "roots": roots, "private-roots": priv, "db": filepath.Join(c.String("out"), "history.db")} {
		if !c.IsSet(name) {
			set[name] = val
		}
	}
	for name, val := range set {
		if err := c.Set(name, val); err != nil {
			return "", err
		}
	}
	return inv, nil
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func demoFlags() []cli.Flag {
	fl := []cli.Flag{&cli.StringFlag{Name: "inventory", Hidden: true}}
	for _, f := range scanFlags() {
		switch f := f.(type) {
		case *cli.StringFlag:
			if f.Name == "out" {
				c := *f
				c.Value = "demo-out"
				fl = append(fl, &c)
				continue
			}
		case *cli.DurationFlag:
			// The fleet's hostile servers hold a probe until its deadline: keep the demo short.
			c := *f
			if f.Name == "timeout" {
				c.Value = 3 * time.Second
			} else {
				c.Value = 2 * time.Second
			}
			fl = append(fl, &c)
			continue
		}
		fl = append(fl, f)
	}
	return fl
}
