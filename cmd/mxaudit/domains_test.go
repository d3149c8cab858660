package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/reports"
)

// TestDomainScripts runs testdata/domains against the fleet's partners
// known by their domain only: SMTP servers on loopback addresses and ::1,
// found through the fleet's DNS server on 127.0.0.1 ($MXAUDIT_RESOLVER;
// $PORT is the port their servers listen on, $ALTPORT the IPv6-only MX's).
func TestDomainScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/domains",
		Setup: func(env *testscript.Env) error {
			f, err := startFleet(env, fleet.Options{Domains: true, NoDNS: true})
			if err != nil {
				return err
			}
			env.Setenv("PORT", strconv.Itoa(f.Port()))
			env.Setenv("ALTPORT", strconv.Itoa(f.AltPort()))
			return nil
		},
		Cmds: scriptCmds(map[string]scriptCmd{"targets": cmdTargets, "dnsadd": cmdDNSAdd}),
	})
}

// targets FILE PARTNER N [FAILING] asserts how many targets a partner has in a results.json (and how many fail).
func cmdTargets(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: targets results.json PARTNER N [FAILING]")
	}
	res, err := audit.ReadResults(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	for _, r := range res.Partners {
		if r.Name != args[1] {
			continue
		}
		ok := strconv.Itoa(len(r.Targets)) == args[2]
		if len(args) > 3 {
			ok = ok && strconv.Itoa(r.TargetsFailing) == args[3]
		}
		if ok == neg {
			ts.Fatalf("%s: %d targets, %d failing; want %v", r.Name, len(r.Targets), r.TargetsFailing, args[2:])
		}
		return
	}
	ts.Fatalf("%s: no such partner in %s", args[1], args[0])
}

// dnsadd RECORD... adds zone-file lines to the fleet's DNS server.
func cmdDNSAdd(ts *testscript.TestScript, neg bool, args []string) {
	if err := ts.Value("dns").(*fleet.DNSServer).Add(args...); err != nil {
		ts.Fatalf("%v", err)
	}
}

// TestReportSchema1: `report --from` renders a results.json an earlier
// mxaudit wrote (schema 1, before targets), every format and per partner.
func TestReportSchema1(t *testing.T) {
	out := t.TempDir()
	from := filepath.Join("..", "..", "audit", "testdata", "results-schema1.json")
	if code := realMain([]string{"mxaudit", "--quiet", "report", "--from", from, "--out", out, "--per-partner"}); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, f := range []string{reports.FileXLSX, reports.FilePDF, reports.FilePartnersCSV, reports.FileTargetsCSV, reports.FileResultsJSON,
		filepath.Join(reports.DirPartnerPDFs, "Valid-Corp.pdf")} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	count := func(name string) int {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return len(recs) - 1
	}
	// 39 partners; every one but the host that did not resolve had its one target.
	if p, tg := count(reports.FilePartnersCSV), count(reports.FileTargetsCSV); p != 39 || tg != 38 {
		t.Errorf("partners.csv %d rows, targets.csv %d rows; want 39 and 38", p, tg)
	}
	back, err := audit.ReadResults(filepath.Join(out, reports.FileResultsJSON))
	if err != nil || back.Schema != audit.SchemaVersion {
		t.Errorf("results.json rewritten as schema %v: %v", back, err)
	}
}

// TestPolicyScripts runs testdata/policies against the fleet's partners
// that publish DANE, MTA-STS and TLS-RPT: its DNS server on 127.0.0.1
// ($MXAUDIT_RESOLVER, a trusted resolver for its signed zone) and its
// MTA-STS policy host on a loopback address ($STSPORT); their MX servers
// listen on $PORT.
func TestPolicyScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/policies",
		Setup: func(env *testscript.Env) error {
			f, err := startFleet(env, fleet.Options{Policies: true, NoDNS: true})
			if err != nil {
				return err
			}
			for _, sc := range f.Scenarios {
				if sc.Domain != nil {
					env.Setenv("PORT", strconv.Itoa(sc.Partner.Port)) // every policy partner's MX listens on it
				}
			}
			return nil
		},
		Cmds: scriptCmds(nil),
	})
}
