package history

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/shard"
)

// domainPartner returns the result of a partner by domain with one target
// per (MX, address, leaf), the worst deciding as the pipeline does.
func domainPartner(name string, ts ...audit.TargetResult) audit.Result {
	r := result(name, audit.Valid, audit.RootSystem, nil)
	r.Host, r.SMTP = "", audit.SMTP{}
	r.SetTargets(ts)
	return r
}

func tgt(mx, addr string, v audit.Verdict, chain []audit.Cert) audit.TargetResult {
	t := audit.TargetResult{MX: mx, Preference: 10, Found: audit.FoundMX, Address: addr, Port: 25, Family: audit.FamilyOf(addr),
		TLS: audit.StartTLS, Verdict: v, Verdicts: []audit.Verdict{v}, Remedy: v.Remedy(), Root: audit.Root{Store: audit.RootSystem},
		Chain: chain, TLSVersion: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", DurationMS: 77,
		SMTP: audit.SMTP{Greeting: []string{"220 " + mx}, TimingsMS: map[string]int64{"connect": 3, "handshake": 9}, RemoteAddr: addr + ":25"}}
	if v != audit.Valid {
		t.Details = map[audit.Verdict]string{v: "test says " + string(v)}
	}
	return t
}

// TestTargetChanges: the change detector reports per target: an MX added
// or removed, an address that appeared or went, a certificate that
// changed on one address only, a renewal on every address once; on both backends.
func TestTargetChanges(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		ca := newCA("Public", "Public CA")
		far := now.AddDate(1, 0, 0)
		mx1, mx2, mx3 := ca.leaf("mx1.contoso.example", far, nil), ca.leaf("mx2.contoso.example", far, nil), ca.leaf("mx3.contoso.example", far, nil)
		mx1v6 := ca.leaf("mx1.contoso.example", far.AddDate(0, 1, 0), nil)
		fab := ca.leaf("mx.fabrikam.example", far, nil)
		night := func(d int, ts ...audit.TargetResult) *audit.Results {
			return results(inv, now.AddDate(0, 0, d), domainPartner("contoso", ts...), result("fabrikam", audit.Valid, audit.RootSystem, ca.chain(fab)))
		}
		n1 := night(0, tgt("mx1.contoso.example", "192.0.2.1", audit.Valid, ca.chain(mx1)), tgt("mx1.contoso.example", "2001:db8::1", audit.Valid, ca.chain(mx1)),
			tgt("mx2.contoso.example", "192.0.2.2", audit.Valid, ca.chain(mx2)))
		record(t, db, n1)
		n2 := night(1, tgt("mx1.contoso.example", "192.0.2.1", audit.Valid, ca.chain(mx1)), tgt("mx1.contoso.example", "2001:db8::1", audit.Valid, ca.chain(mx1)),
			tgt("mx2.contoso.example", "192.0.2.2", audit.Valid, ca.chain(mx2)))
		record(t, db, n2)
		if len(n2.Changes) != 0 {
			t.Fatalf("the same targets give changes: %+v", n2.Changes)
		}
		// Night 3: the IPv6 address of mx1 serves another certificate, mx1
		// got a second IPv4 address, mx2 is gone and mx3 came, failing.
		n3 := night(2, tgt("mx1.contoso.example", "192.0.2.1", audit.Valid, ca.chain(mx1)), tgt("mx1.contoso.example", "2001:db8::1", audit.Valid, ca.chain(mx1v6)),
			tgt("mx1.contoso.example", "192.0.2.11", audit.Valid, ca.chain(mx1)), tgt("mx3.contoso.example", "192.0.2.3", audit.Expired, ca.chain(mx3)))
		id3 := record(t, db, n3)
		var got []string
		for _, c := range n3.Changes {
			got = append(got, fmt.Sprintf("%s %s [%s] %s -> %s", c.Partner, c.Kind, c.Target, c.Before, c.After))
		}
		want := []string{
			"contoso mx_added [mx3.contoso.example:25]  -> 192.0.2.3",
			"contoso mx_removed [mx2.contoso.example:25] 192.0.2.2 -> ",
			"contoso address_added [mx1.contoso.example:25 via 192.0.2.11]  -> 192.0.2.11",
			"contoso verdict_worse [] Valid -> Expired",
		}
		if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
			t.Fatalf("changes:\n got %q\nwant %q first", got, want)
		}
		rest := kinds(n3.Changes[len(want):])
		if !slices.Equal(rest, []string{"contoso cert_replaced", "contoso key_changed"}) {
			t.Errorf("then %q", rest)
		}
		for _, c := range n3.Changes[len(want):] {
			if c.Target != "mx1.contoso.example:25 via 2001:db8::1" {
				t.Errorf("%s on %q, want the IPv6 address only", c.Kind, c.Target)
			}
		}
		if stored, err := db.Changes(id3); err != nil || len(stored) != len(n3.Changes) || stored[0].Target != "mx3.contoso.example:25" {
			t.Errorf("stored changes %+v, %v", stored, err)
		}
		// Night 4: every address of mx1 renewed: one change for the host.
		mx1new := ca.leaf("mx1.contoso.example", far.AddDate(1, 0, 0), nil)
		n4 := night(3, tgt("mx1.contoso.example", "192.0.2.1", audit.Valid, ca.chain(mx1new)), tgt("mx1.contoso.example", "2001:db8::1", audit.Valid, ca.chain(mx1new)),
			tgt("mx1.contoso.example", "192.0.2.11", audit.Valid, ca.chain(mx1new)), tgt("mx3.contoso.example", "192.0.2.3", audit.Expired, ca.chain(mx3)))
		record(t, db, n4)
		var n4s []string
		for _, c := range n4.Changes {
			n4s = append(n4s, c.Kind+" ["+c.Target+"]")
		}
		// The IPv6 address had its own certificate: its change is told apart.
		if !slices.Equal(n4s, []string{"cert_replaced [mx1.contoso.example:25 via 192.0.2.1, mx1.contoso.example:25 via 192.0.2.11]",
			"cert_replaced [mx1.contoso.example:25 via 2001:db8::1]", "key_changed [mx1.contoso.example:25 via 192.0.2.1, mx1.contoso.example:25 via 192.0.2.11]",
			"key_changed [mx1.contoso.example:25 via 2001:db8::1]"}) {
			t.Errorf("renewal of mx1: %q", n4s)
		}
		// Night 4b: now that every address of mx1 served one certificate, a renewal is one change, named by the host.
		mx1newer := ca.leaf("mx1.contoso.example", far.AddDate(2, 0, 0), nil)
		n4b := night(3, tgt("mx1.contoso.example", "192.0.2.1", audit.Valid, ca.chain(mx1newer)), tgt("mx1.contoso.example", "2001:db8::1", audit.Valid, ca.chain(mx1newer)),
			tgt("mx1.contoso.example", "192.0.2.11", audit.Valid, ca.chain(mx1newer)), tgt("mx3.contoso.example", "192.0.2.3", audit.Expired, ca.chain(mx3)))
		n4b.Started = n4b.Started.Add(12 * time.Hour)
		record(t, db, n4b)
		n4s = nil
		for _, c := range n4b.Changes {
			n4s = append(n4s, c.Kind+" ["+c.Target+"]")
		}
		if !slices.Equal(n4s, []string{"cert_replaced [mx1.contoso.example:25]", "key_changed [mx1.contoso.example:25]"}) {
			t.Errorf("renewal on every address of mx1: %q", n4s)
		}
		// Night 5: contoso's domain no longer resolves: its verdict changed, not its MX hosts.
		gone := result("contoso", audit.DNSError, audit.RootNone, nil)
		gone.Host, gone.Chain, gone.SMTP = "", nil, audit.SMTP{}
		n5 := results(inv, now.AddDate(0, 0, 4), gone, result("fabrikam", audit.Valid, audit.RootSystem, ca.chain(fab)))
		record(t, db, n5)
		if got := kinds(n5.Changes); !slices.Equal(got, []string{"contoso verdict_worse"}) || n5.Changes[0].After != "DNSError" {
			t.Errorf("DNS failure: %q", got)
		}
	})
}

// TestTargetsRoundTrip: a run with targets reads back as recorded: chains,
// durations and timings of every target.
func TestTargetsRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		ca := newCA("Public", "Public CA")
		far := now.AddDate(1, 0, 0)
		leaf := ca.leaf("mx1.contoso.example", far, nil)
		other := newCA("Other", "Other Root")
		res := results(inv, now, domainPartner("contoso",
			tgt("mx1.contoso.example", "192.0.2.1", audit.Valid, ca.chain(leaf)),
			tgt("mx1.contoso.example", "2001:db8::1", audit.UntrustedRoot, other.chain(other.leaf("mx1.contoso.example", far, nil)))))
		res.Partners[0].Targets[1].DurationMS = 1234
		res.Partners[0].Targets[1].SMTP.TimingsMS = map[string]int64{"connect": 1, "greeting": 50, "tls_extra": 7}
		id := record(t, db, res)
		got, err := db.Results(id)
		if err != nil {
			t.Fatal(err)
		}
		g, _ := json.MarshalIndent(got.Partners, "", " ")
		w, _ := json.MarshalIndent(res.Partners, "", " ")
		if !bytes.Equal(g, w) {
			gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
			for i := range min(len(gl), len(wl)) {
				if gl[i] != wl[i] {
					t.Fatalf("Results(%d) differs at line %d:\n got %s\nwant %s", id, i+1, gl[i], wl[i])
				}
			}
			t.Fatalf("Results(%d) differs in length", id)
		}
		var n int
		db.c().QueryRowContext(context.Background(), `SELECT count(*) FROM targets WHERE run_id = ?`, id).Scan(&n)
		if n != 2 {
			t.Errorf("%d target rows", n)
		}
	})
}

// fixtureV3 is testdata/history-v3.db, written by the schema-3 mxaudit
// (commit d1e99b0) with two `mxaudit demo` runs: 39 partners each, one
// row each, the second with the fleet's new certificates.
const fixtureV3 = "testdata/history-v3.db"

// TestMigrateV3Fixture migrates a database the previous release wrote:
// every run survives with every result, and the next run of the same
// partners, now with targets (each host at its address), reports no change.
func TestMigrateV3Fixture(t *testing.T) {
	path := copyFile(t, fixtureV3)
	if v := pragma(t, rawSQL(t, path), "user_version"); v != 3 {
		t.Fatalf("fixture has schema %d, want 3", v)
	}
	db, err := Open(path, Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runs, err := db.Runs(RunFilter{})
	if err != nil || len(runs) != 2 {
		t.Fatalf("%d runs after migration (%v), want 2", len(runs), err)
	}
	var last *audit.Results
	for _, r := range runs {
		res, err := db.Results(r.ID)
		if err != nil {
			t.Fatalf("run %d after migration: %v", r.ID, err)
		}
		if r.Status != StatusComplete || r.Partners != 39 || len(res.Partners) != 39 {
			t.Errorf("run %d: %s, %d partners listed, %d loaded", r.ID, r.Status, r.Partners, len(res.Partners))
		}
		last = res
	}
	if stored, err := db.Changes(runs[1].ID); err != nil || len(stored) == 0 {
		t.Errorf("the changes recorded by the previous release: %d, %v", len(stored), err)
	}
	// The same partners one night later, each host now audited at its
	// address as a target: nothing changed.
	again := *last
	again.Partners = slices.Clone(last.Partners)
	withTargets := 0
	for i := range again.Partners {
		r := &again.Partners[i]
		if r.Address != "" || r.SMTP.RemoteAddr != "" {
			r.SetTargets([]audit.TargetResult{audit.NewTarget(r)})
			withTargets++
		}
	}
	if withTargets < 35 {
		t.Fatalf("only %d partners got a target", withTargets)
	}
	again.Started = again.Started.Add(24 * time.Hour)
	again.Finished = again.Started.Add(time.Minute)
	again.Inventory = runs[1].Inventory
	record(t, db, &again)
	if len(again.Changes) != 0 {
		t.Errorf("the first run with targets after migration reports changes: %q", kinds(again.Changes))
	}
}

// TestSummaryByTarget: the period summary counts each target of a partner
// by domain on its own.
func TestSummaryByTarget(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		ca := newCA("Public", "Public CA")
		far := now.AddDate(1, 0, 0)
		l1, l2 := ca.leaf("mx1.contoso.example", far, nil), ca.leaf("mx2.contoso.example", far, nil)
		for d := range 3 {
			v := audit.Valid
			if d > 0 {
				v = audit.Expired
			}
			record(t, db, results(inv, now.AddDate(0, 0, d), domainPartner("contoso",
				tgt("mx1.contoso.example", "192.0.2.1", audit.Valid, ca.chain(l1)), tgt("mx2.contoso.example", "192.0.2.2", v, ca.chain(l2)))))
		}
		sum, err := db.Summary(SummaryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var rows []string
		for _, p := range sum.Partners {
			rows = append(rows, fmt.Sprintf("%s %s runs=%d failed=%d", p.Partner, p.Target, p.Runs, p.FailedRuns))
		}
		want := []string{"contoso mx1.contoso.example:25 via 192.0.2.1 runs=3 failed=0", "contoso mx2.contoso.example:25 via 192.0.2.2 runs=3 failed=2"}
		if !slices.Equal(rows, want) {
			t.Errorf("summary:\n got %q\nwant %q", rows, want)
		}
	})
}

// TestTargetChangesPerScope: per-target changes are computed per vantage
// point and per shard: an address only one vantage point reaches, and a
// certificate one shard's partner changed on one address, are told to that
// vantage point and that shard alone, and each compares with its own
// previous run, not with the run recorded just before it.
func TestTargetChangesPerScope(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		ca := newCA("Public", "Public CA")
		far := now.AddDate(1, 0, 0)
		c1, c1new, f1 := ca.leaf("mx1.contoso.example", far, nil), ca.leaf("mx1.contoso.example", far.AddDate(1, 0, 0), nil), ca.leaf("mx.fabrikam.example", far, nil)
		contoso := func(v6 bool, leaf6 audit.Cert) audit.Result {
			ts := []audit.TargetResult{tgt("mx1.contoso.example", "192.0.2.1", audit.Valid, ca.chain(c1))}
			if v6 {
				ts = append(ts, tgt("mx1.contoso.example", "2001:db8::1", audit.Valid, ca.chain(leaf6)))
			}
			return domainPartner("contoso", ts...) // domain contoso.example
		}
		fabrikam := func() audit.Result {
			return domainPartner("fabrikam", tgt("mx.fabrikam.example", "192.0.2.9", audit.Valid, ca.chain(f1)))
		}
		run := func(hours int, vantage string, sp shard.Spec, ps ...audit.Result) *audit.Results {
			res := results(inv, now.Add(time.Duration(hours)*time.Hour), ps...)
			res.Vantage, res.Shard = vantage, sp.String()
			if err := db.Record(0, res); err != nil {
				t.Fatal(err)
			}
			return res
		}
		// Two vantage points: eu-1 reaches IPv6, us-east does not.
		run(0, "eu-1", shard.Spec{}, contoso(true, c1), fabrikam())
		run(0, "us-east", shard.Spec{}, contoso(false, audit.Cert{}), fabrikam())
		eu := run(1, "eu-1", shard.Spec{}, contoso(true, c1new), fabrikam())
		us := run(1, "us-east", shard.Spec{}, contoso(false, audit.Cert{}), fabrikam())
		var got []string
		for _, c := range eu.Changes {
			got = append(got, c.Partner+" "+c.Kind+" ["+c.Target+"]")
		}
		if want := []string{"contoso cert_replaced [mx1.contoso.example:25 via 2001:db8::1]", "contoso key_changed [mx1.contoso.example:25 via 2001:db8::1]"}; !slices.Equal(got, want) {
			t.Errorf("eu-1: %q, want %q", got, want)
		}
		if len(us.Changes) != 0 {
			t.Errorf("us-east, which never reached the IPv6 address: %q, want nothing (not address_removed against eu-1)", kinds(us.Changes))
		}
		// Two shards of one inventory: each partner in its own slice.
		sc, sf := shard.Spec{K: shard.Of("contoso.example", 3), N: 3}, shard.Spec{K: shard.Of("fabrikam.example", 3), N: 3}
		if sc == sf {
			t.Fatalf("the test's partners share shard %v", sc)
		}
		run(2, "", sc, contoso(true, c1))
		run(2, "", sf, fabrikam())
		s1 := run(3, "", sc, contoso(true, c1new))
		s2 := run(3, "", sf, fabrikam())
		if got := kinds(s1.Changes); !slices.Equal(got, []string{"contoso cert_replaced", "contoso key_changed"}) || s1.Changes[0].Target != "mx1.contoso.example:25 via 2001:db8::1" {
			t.Errorf("contoso's shard: %q (%+v)", got, s1.Changes)
		}
		if len(s2.Changes) != 0 {
			t.Errorf("fabrikam's shard: %q, want nothing (not partner_removed of contoso)", kinds(s2.Changes))
		}
	})
}
