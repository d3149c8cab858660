package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

var now = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

const inv = "/etc/mxaudit/partners.csv"

func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "history.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func record(t *testing.T, db *DB, res *audit.Results) int64 {
	t.Helper()
	id, err := db.Begin(res.Inventory, res.Started)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Record(id, res); err != nil {
		t.Fatal(err)
	}
	return id
}

// fleetRuns returns three nightly runs of one inventory: between the first
// and the second, "contoso" rotates its certificate to a new issuer (same
// subject: the Exchange 2013 story), "fabrikam" starts failing, "tailspin"
// recovers, "northwind" is removed, "litware" is added, "adatum" moves from a
// private to a public CA and "wingtip" crosses 30 days to expiry. The third
// run is the second one night later: nothing changes.
func fleetRuns() [3]*audit.Results {
	oldCA := newCA("Contoso Ltd", "Contoso Issuing CA 01")
	newCAx := newCA("Contoso Ltd.", "Contoso Issuing CA 01") // slightly different issuer
	pub := newCA("Public Trust", "Public Trust RSA CA")
	priv := newCA("Adatum", "Adatum Root")

	contoso1 := oldCA.leaf("mx.contoso.example", now.AddDate(0, 6, 0), nil)
	contoso2 := newCAx.leaf("mx.contoso.example", now.AddDate(1, 0, 0), nil)
	fab := pub.leaf("mx.fabrikam.example", now.AddDate(0, 2, 0), nil)
	tail := priv.leaf("mx.tailspin.example", now.AddDate(0, 2, 0), nil)
	north := pub.leaf("mx.northwind.example", now.AddDate(0, 2, 0), nil)
	lit := pub.leaf("mx.litware.example", now.AddDate(0, 2, 0), nil)
	adatumKey := newKey()
	adatum1 := priv.leaf("mx.adatum.example", now.AddDate(0, 2, 0), adatumKey)
	adatum2 := pub.leaf("mx.adatum.example", now.AddDate(0, 2, 0), adatumKey) // same key, new CA
	wing := pub.leaf("mx.wingtip.example", now.Add(31*24*time.Hour+12*time.Hour), nil)

	day2 := now.Add(24 * time.Hour)
	day3 := now.Add(48 * time.Hour)
	r1 := results(inv, now,
		result("contoso", audit.Valid, audit.RootSystem, oldCA.chain(contoso1)),
		result("fabrikam", audit.Valid, audit.RootSystem, pub.chain(fab)),
		result("tailspin", audit.UntrustedRoot, audit.RootNone, priv.chain(tail)),
		result("northwind", audit.Valid, audit.RootSystem, pub.chain(north)),
		result("adatum", audit.Valid, audit.RootPrivate, priv.chain(adatum1)),
		result("wingtip", audit.Valid, audit.RootSystem, pub.chain(wing)),
	)
	second := func(started time.Time) *audit.Results {
		return results(inv, started,
			result("contoso", audit.IssuerChanged, audit.RootSystem, newCAx.chain(contoso2)),
			result("fabrikam", audit.Timeout, audit.RootNone, nil),
			result("tailspin", audit.Valid, audit.RootPrivate, priv.chain(tail)),
			result("adatum", audit.Valid, audit.RootSystem, pub.chain(adatum2)),
			result("wingtip", audit.Valid, audit.RootSystem, pub.chain(wing)),
			result("litware", audit.Valid, audit.RootSystem, pub.chain(lit)),
		)
	}
	return [3]*audit.Results{r1, second(day2), second(day3)}
}

func kinds(cs []audit.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Partner+" "+c.Kind)
	}
	return out
}

func TestChangesAcrossRuns(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		runs := fleetRuns()
		id1 := record(t, db, runs[0])
		if len(runs[0].Changes) != 0 {
			t.Fatalf("first run has changes: %v", kinds(runs[0].Changes))
		}
		id2 := record(t, db, runs[1])
		want := []string{
			"contoso verdict_worse",
			"contoso cert_replaced",
			"contoso issuer_changed",
			"contoso key_changed",
			"fabrikam verdict_worse",
			"tailspin verdict_recovered",
			"tailspin root_store_changed",
			"adatum cert_replaced",
			"adatum issuer_changed",
			"adatum root_store_changed",
			"wingtip expiry_threshold",
			"litware partner_added",
			"northwind partner_removed",
		}
		if got := kinds(runs[1].Changes); !slices.Equal(got, want) {
			t.Errorf("changes of run 2:\n got %q\nwant %q", got, want)
		}
		for _, c := range runs[1].Changes {
			if c.SinceRun != id1 {
				t.Errorf("%s %s: since_run %d, want %d", c.Partner, c.Kind, c.SinceRun, id1)
			}
			if c.Partner == "contoso" && c.Kind == IssuerChanged {
				if c.Before != "CN=Contoso Issuing CA 01,O=Contoso Ltd" || c.After != "CN=Contoso Issuing CA 01,O=Contoso Ltd." {
					t.Errorf("contoso issuer change: %q -> %q", c.Before, c.After)
				}
			}
			if c.Partner == "wingtip" && (c.Before != "31 days left" || c.After != "30 days left (<= 30)") {
				t.Errorf("wingtip expiry: %q -> %q", c.Before, c.After)
			}
			if c.Partner == "adatum" && c.Kind == RootStoreChanged && (c.Before != "private CA" || c.After != "public CA") {
				t.Errorf("adatum root: %q -> %q", c.Before, c.After)
			}
		}
		id3 := record(t, db, runs[2])
		if len(runs[2].Changes) != 0 {
			t.Errorf("run 3 repeats changes: %q", kinds(runs[2].Changes))
		}

		// Stored changes and Diff agree with what Record computed.
		stored, err := db.Changes(id2)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(kinds(stored), want) {
			t.Errorf("stored changes: %q", kinds(stored))
		}
		diff, err := db.Diff(id1, id3)
		if err != nil {
			t.Fatal(err)
		}
		if len(diff) != len(want) {
			t.Errorf("diff 1..3: %q", kinds(diff))
		}
		a, b, err := db.LastRuns()
		if err != nil || a != id2 || b != id3 {
			t.Errorf("LastRuns = %d, %d, %v; want %d, %d", a, b, err, id2, id3)
		}
	})
}

func TestResultsRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		runs := fleetRuns()
		root := newCA("Adatum", "Adatum Root 2")
		runs[1].PrivateRoots = []audit.PrivateRoot{{File: "adatum.pem", Subject: "CN=Adatum Root 2,O=Adatum",
			SHA256: audit.NewCert(root.Cert).SHA256, NotAfter: root.Cert.NotAfter, DaysLeft: 4000, Status: audit.RootOK,
			UsedBy: []string{"tailspin"}, DeclaredBy: []string{}, DER: root.Cert.Raw}}
		runs[1].InventoryErrors = []audit.InventoryError{{File: inv, Line: 9, Column: "port", Message: "bad"}}
		runs[1].TrustErrors = []audit.TrustError{{File: "/srv/roots/contoso-root.cer", Message: "skipped: a FIFO (named pipe), not a regular file"}}
		runs[1].Incomplete = true
		record(t, db, runs[0])
		id := record(t, db, runs[1])
		got, err := db.Results(id)
		if err != nil {
			t.Fatal(err)
		}
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(runs[1], "", " ")
		if !bytes.Equal(g, w) {
			os.WriteFile(filepath.Join(t.TempDir(), "got.json"), g, 0o644)
			gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
			for i := range min(len(gl), len(wl)) {
				if gl[i] != wl[i] {
					t.Fatalf("Results(%d) differs from what was recorded at line %d:\n got %s\nwant %s", id, i+1, gl[i], wl[i])
				}
			}
			t.Fatalf("Results(%d) differs in length: %d lines, want %d", id, len(gl), len(wl))
		}
		if _, err := db.Results(99); !errors.Is(err, ErrNoRun) {
			t.Errorf("Results(99) = %v, want ErrNoRun", err)
		}
	})
}

func TestIncompleteRunIsNoBaseline(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		runs := fleetRuns()
		record(t, db, runs[0])
		// An interrupted (Ctrl-C) second run: contoso probed, the rest not.
		partial := *runs[1]
		partial.Incomplete = true
		partial.Partners = slices.Clone(runs[1].Partners)
		for i := range partial.Partners[1:] {
			p := &partial.Partners[i+1]
			p.Verdict, p.Verdicts, p.Chain = audit.NotProbed, []audit.Verdict{audit.NotProbed}, nil
		}
		record(t, db, &partial)
		for _, c := range partial.Changes {
			if c.Partner != "contoso" && c.Kind != PartnerAdded && c.Kind != PartnerRemoved {
				t.Errorf("partial run reports %s %s for a partner it did not probe", c.Partner, c.Kind)
			}
		}
		// The next complete run compares every partner with the last run that
		// audited it: contoso with the partial run (nothing new since), the
		// others, and the added and removed partners, with run 1.
		record(t, db, runs[1])
		want := []string{
			"fabrikam verdict_worse",
			"tailspin verdict_recovered",
			"tailspin root_store_changed",
			"adatum cert_replaced",
			"adatum issuer_changed",
			"adatum root_store_changed",
			"wingtip expiry_threshold",
			"litware partner_added",
			"northwind partner_removed",
		}
		if got := kinds(runs[1].Changes); !slices.Equal(got, want) {
			t.Errorf("after a partial run:\n got %q\nwant %q", got, want)
		}
		for _, c := range runs[1].Changes {
			if c.SinceRun != 1 {
				t.Errorf("%s %s since run %d, want 1", c.Partner, c.Kind, c.SinceRun)
			}
		}
	})
}

func TestDiffSnapshots(t *testing.T) {
	leaf := func(days int) *leafInfo {
		return &leafInfo{SHA256: "AA", Subject: "CN=x", Issuer: "CN=ca", KeySHA: "k", NotAfter: now.Add(time.Duration(days)*24*time.Hour + time.Hour)}
	}
	renewed := &leafInfo{SHA256: "BB", Subject: "CN=x", Issuer: "CN=ca", KeySHA: "k", NotAfter: now.AddDate(0, 3, 0)}
	st := func(name string, v audit.Verdict, l *leafInfo) state {
		return state{Partner: name, Target: "mx:25", MX: "mx", Port: 25, Verdict: v, RootStore: audit.RootSystem, Leaf: l, Started: now}
	}
	mx2 := func(s state) state { s.MX, s.Target = "mx2", "mx2:25"; return s }
	// at puts a state at an address of its MX host, as a partner by domain has it.
	at := func(addr string, s state) state { s.Address, s.Target = addr, stateKey(s.MX, 25, addr); return s }
	tests := []struct {
		name       string
		prev, cur  []state
		want       []string
		wantBefore string
		wantAfter  string
		wantTarget string
		marks      []int // of the later run; nil: the default thresholds'
	}{
		{"nothing", []state{st("a", audit.Valid, leaf(90))}, []state{st("a", audit.Valid, leaf(90))}, nil, "", "", "", nil},
		{"jump over two thresholds reports the most severe", []state{st("a", audit.Valid, leaf(40))}, []state{st("a", audit.Valid, leaf(5))},
			[]string{"a expiry_threshold"}, "40 days left", "5 days left (<= 7)", "mx:25", nil},
		{"expired", []state{st("a", audit.Valid, leaf(0))}, []state{st("a", audit.Valid, leaf(-1))},
			[]string{"a expiry_threshold"}, "less than a day left", "expired 1 day ago", "", nil},
		{"renewed is no threshold", []state{st("a", audit.Valid, leaf(8))}, []state{st("a", audit.Valid, renewed)},
			[]string{"a cert_replaced"}, "", "", "", nil},
		{"not probed is skipped", []state{st("a", audit.Valid, leaf(90))}, []state{st("a", audit.NotProbed, nil)}, nil, "", "", "", nil},
		{"worse without leaf", []state{st("a", audit.Valid, leaf(90))}, []state{st("a", audit.DNSError, nil)},
			[]string{"a verdict_worse"}, "Valid", "DNSError", "mx:25", nil},
		{"two hosts of one partner are compared host by host", []state{st("a", audit.Valid, leaf(90)), mx2(st("a", audit.Expired, leaf(90)))},
			[]state{st("a", audit.Valid, leaf(90)), mx2(st("a", audit.Expired, leaf(90)))}, nil, "", "", "", nil},
		{"an MX host is added, failing", []state{st("a", audit.Valid, leaf(90))},
			[]state{st("a", audit.Valid, leaf(90)), mx2(st("a", audit.Expired, leaf(90)))}, []string{"a mx_added", "a verdict_worse"}, "", "", "mx2:25", nil},
		{"an MX host goes away", []state{st("a", audit.Valid, leaf(90)), mx2(st("a", audit.Valid, leaf(90)))},
			[]state{mx2(st("a", audit.Valid, leaf(90)))}, []string{"a mx_removed"}, "", "", "mx:25", nil},
		{"an address appears", []state{at("192.0.2.1", st("a", audit.Valid, leaf(90)))},
			[]state{at("192.0.2.1", st("a", audit.Valid, leaf(90))), at("2001:db8::1", st("a", audit.Valid, leaf(90)))},
			[]string{"a address_added"}, "", "2001:db8::1", "mx:25 via 2001:db8::1", nil},
		{"an address goes away", []state{at("192.0.2.1", st("a", audit.Valid, leaf(90))), at("192.0.2.2", st("a", audit.Valid, leaf(90)))},
			[]state{at("192.0.2.2", st("a", audit.Valid, leaf(90)))}, []string{"a address_removed"}, "192.0.2.1", "", "mx:25 via 192.0.2.1", nil},
		{"a certificate changed on one address only", []state{at("192.0.2.1", st("a", audit.Valid, leaf(90))), at("2001:db8::1", st("a", audit.Valid, leaf(90)))},
			[]state{at("192.0.2.1", st("a", audit.Valid, leaf(90))), at("2001:db8::1", st("a", audit.Valid, renewed))},
			[]string{"a cert_replaced"}, "", "", "mx:25 via 2001:db8::1", nil},
		{"renewed on every address: one change", []state{at("192.0.2.1", st("a", audit.Valid, leaf(8))), at("2001:db8::1", st("a", audit.Valid, leaf(8)))},
			[]state{at("192.0.2.1", st("a", audit.Valid, renewed)), at("2001:db8::1", st("a", audit.Valid, renewed))},
			[]string{"a cert_replaced"}, "", "", "mx:25", nil},
		{"a row recorded before targets, now audited by address", []state{st("a", audit.Valid, leaf(90))},
			[]state{at("192.0.2.1", st("a", audit.Valid, leaf(90))), at("2001:db8::1", st("a", audit.Expired, leaf(90)))},
			[]string{"a verdict_worse"}, "Valid", "Expired", "mx:25 via 2001:db8::1", nil},
		{"thresholds of 45 and 10 days: 50 to 40 crosses the warning mark", []state{st("a", audit.Valid, leaf(50))}, []state{st("a", audit.Valid, leaf(40))},
			[]string{"a expiry_threshold"}, "50 days left", "40 days left (<= 45)", "mx:25", audit.Thresholds{ExpiryWarningDays: 45, ExpiryErrorDays: 10}.ExpiryMarks()},
		{"thresholds of 45 and 10 days: 40 to 8 crosses the error mark", []state{st("a", audit.Valid, leaf(40))}, []state{st("a", audit.Valid, leaf(8))},
			[]string{"a expiry_threshold"}, "40 days left", "8 days left (<= 10)", "mx:25", audit.Thresholds{ExpiryWarningDays: 45, ExpiryErrorDays: 10}.ExpiryMarks()},
		{"thresholds of 45 and 10 days: 9 to 8 crosses nothing", []state{st("a", audit.Valid, leaf(9))}, []state{st("a", audit.Valid, leaf(8))},
			nil, "", "", "", audit.Thresholds{ExpiryWarningDays: 45, ExpiryErrorDays: 10}.ExpiryMarks()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := newSnapshot(2, now, tt.cur)
			cur.Marks = tt.marks
			got := diffSnapshots(newSnapshot(1, now, tt.prev), cur)
			if !slices.Equal(kinds(got), tt.want) {
				t.Fatalf("got %q, want %q (%+v)", kinds(got), tt.want, got)
			}
			if tt.wantBefore != "" && got[0].Before != tt.wantBefore || tt.wantAfter != "" && got[0].After != tt.wantAfter {
				t.Errorf("got %q -> %q, want %q -> %q", got[0].Before, got[0].After, tt.wantBefore, tt.wantAfter)
			}
			if tt.wantTarget != "" && got[0].Target != tt.wantTarget {
				t.Errorf("target %q, want %q", got[0].Target, tt.wantTarget)
			}
		})
	}
	// A partner whose domain stopped resolving: its verdict, not its MX hosts, changed.
	prev := newSnapshot(1, now, []state{at("192.0.2.1", st("a", audit.Valid, leaf(90)))})
	cur := &snapshot{RunID: 2, Started: now, Partners: []partnerState{{Name: "a", Domain: "a.example", Verdict: audit.DNSError}}}
	if got := kinds(diffSnapshots(prev, cur)); !slices.Equal(got, []string{"a verdict_worse"}) {
		t.Errorf("DNS failure: %q", got)
	}
}

func TestSummary(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		runs := fleetRuns()
		for _, r := range runs {
			record(t, db, r)
		}
		s, err := db.Summary(SummaryOptions{Since: now.Add(time.Hour), Until: now.AddDate(0, 3, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if s.Runs != 2 || s.FirstRun != 2 || s.LastRun != 3 {
			t.Errorf("summary covers %d runs (%d to %d), want 2 (2 to 3)", s.Runs, s.FirstRun, s.LastRun)
		}
		s, err = db.Summary(SummaryOptions{Since: now, Inventory: inv})
		if err != nil {
			t.Fatal(err)
		}
		by := map[string]PartnerSummary{}
		for _, p := range s.Partners {
			by[p.Partner] = p
		}
		fab := by["fabrikam"]
		if fab.Runs != 3 || fab.FailedRuns != 2 || fab.DaysWithFailure != 2 || !fab.FirstFailure.Equal(now.Add(24*time.Hour)) ||
			!fab.LastFailure.Equal(now.Add(48*time.Hour)) || fab.Worst != audit.Timeout || fab.Last != audit.Timeout {
			t.Errorf("fabrikam: %+v", fab)
		}
		if c := by["contoso"].CertChanges; len(c) != 1 || c[0].Run != 2 || !c[0].Issuer {
			t.Errorf("contoso certificate changes: %+v", c)
		}
		if tail := by["tailspin"]; tail.DaysWithFailure != 1 || tail.Last != audit.Valid {
			t.Errorf("tailspin: %+v", tail)
		}
		var text, js bytes.Buffer
		if err := s.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text.String(), "fabrikam   3     2       2") || !strings.Contains(text.String(), "contoso [new issuer]") {
			t.Errorf("text summary:\n%s", text.String())
		}
		if err := s.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		var back Summary
		if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Partners) != 7 {
			t.Errorf("JSON summary does not read back (%v):\n%s", err, js.String())
		}
	})
}

// TestExpiryMarksOfTheRun: a run graded with expiry thresholds of 45 and 10
// days records the crossing of 45 (which the defaults, 30 and 7, would not
// see), and `mxaudit diff` of the stored runs reads the same thresholds back.
func TestExpiryMarksOfTheRun(t *testing.T) {
	db := openTest(t)
	ca := newCA("Wingtip", "Wingtip CA")
	key := newKey()
	leaf := ca.leaf("mx.wingtip.example", now.AddDate(0, 0, 50), key)
	th := audit.Thresholds{MinRSABits: 2048, MinECBits: 256, ExpiryWarningDays: 45, ExpiryErrorDays: 10, RootExpiringDays: 90}
	first := results(inv, now, result("wingtip", audit.Valid, audit.RootSystem, ca.chain(leaf)))
	first.Thresholds = &th
	a := record(t, db, first)
	second := results(inv, now.AddDate(0, 0, 10), result("wingtip", audit.Valid, audit.RootSystem, ca.chain(leaf)))
	second.Thresholds = &th
	b := record(t, db, second)
	if got := kinds(second.Changes); !slices.Equal(got, []string{"wingtip expiry_threshold"}) || second.Changes[0].After != "40 days left (<= 45)" {
		t.Fatalf("recorded changes %+v, want wingtip crossing 45 days", second.Changes)
	}
	diff, err := db.Diff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(diff); !slices.Equal(got, []string{"wingtip expiry_threshold"}) {
		t.Errorf("diff of the stored runs: %q, want the crossing of 45 days", got)
	}
	// The same runs graded by the defaults cross nothing.
	db2 := openTest(t)
	first.Thresholds, second.Thresholds, second.Changes = nil, nil, nil
	record(t, db2, first)
	record(t, db2, second)
	if len(second.Changes) != 0 {
		t.Errorf("default thresholds: changes %+v, want none (50 -> 40 days crosses no default mark)", second.Changes)
	}
}
