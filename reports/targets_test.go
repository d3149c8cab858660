package reports

import (
	"bytes"
	"context"
	"encoding/csv"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

const targetsFixturePath = "testdata/results-targets.json"

// loadTargetsFixture reads the committed schema-2 fixture of partners by domain.
func loadTargetsFixture(t testing.TB) *audit.Results {
	t.Helper()
	res, err := audit.ReadResults(targetsFixturePath)
	if err != nil {
		t.Fatalf("fixture: %v (regenerate with go test ./reports -run TestTargetsFixture -regen-fixture)", err)
	}
	return res
}

// buildTargetsFixture makes a run of partners known by their domain: two
// MX with two addresses each (the secondary's IPv4 address expired), a null
// MX, a domain that does not resolve, partners sharing a provider's MX,
// and a partner whose row names its host.
func buildTargetsFixture(t testing.TB) *audit.Results {
	now := fixtureStarted
	day := 24 * time.Hour
	pub := mkcert(t, "Example Public Root R1", "Example Trust Services", nil, true, now.AddDate(-10, 0, 0), now.AddDate(10, 0, 0))
	pubInt := mkcert(t, "Example Public TLS CA 2026", "Example Trust Services", pub, true, now.AddDate(-2, 0, 0), now.AddDate(5, 0, 0))
	sysRoot := audit.Root{Store: audit.RootSystem, Subject: pub.Cert.Subject.String(), NotAfter: pub.Cert.NotAfter}
	chain := func(host string, na time.Time) []audit.Cert {
		l := mkcert(t, host, "Partner", pubInt, false, now.Add(-60*day), na, host)
		return []audit.Cert{audit.NewCert(l.Cert), audit.NewCert(pubInt.Cert)}
	}
	target := func(mx string, pref int, addr string, vs []audit.Verdict, c []audit.Cert, shared string) audit.TargetResult {
		t := audit.TargetResult{MX: mx, Preference: pref, Found: audit.FoundMX, Address: addr, Port: 25, Family: audit.FamilyOf(addr),
			TLS: audit.StartTLS, Verdict: audit.Primary(vs), Verdicts: vs, Root: sysRoot, Chain: c, TLSVersion: "TLS 1.3",
			Cipher: "TLS_AES_128_GCM_SHA256", DurationMS: 120, SharedWith: shared}
		t.Remedy = t.Verdict.Remedy()
		if t.Verdict != audit.Valid {
			t.Details = map[audit.Verdict]string{audit.Expired: "the leaf (CN=" + mx + ") expired on 2026-06-20"}
		}
		return t
	}
	valid := []audit.Verdict{audit.Valid}
	far := now.Add(300 * day)
	res := &audit.Results{Schema: audit.SchemaVersion, Started: now, Finished: now.Add(40 * time.Second), Inventory: "domains.csv",
		PrivateRoots: []audit.PrivateRoot{}, InventoryErrors: []audit.InventoryError{},
		Notes: []string{"IPv6 not tested from here: this machine has no route to IPv6 addresses (1 partner addresses skipped; they are no failure of the partners)"}}
	partner := func(line int, name, domain string, enforced bool) audit.Result {
		return audit.Result{Partner: audit.Partner{Line: line, Name: name, Domain: domain, Port: 25, TLS: audit.StartTLS, Enforced: enforced,
			Contact: "postmaster@" + domain}, Findings: []audit.Finding{}, Root: audit.Root{Store: audit.RootNone}, Chain: []audit.Cert{}}
	}

	cs := partner(2, "Contoso Shipping", "contoso-shipping.example", true)
	cs.SetTargets([]audit.TargetResult{
		target("mx1.contoso-shipping.example", 10, "192.0.2.10", valid, chain("mx1.contoso-shipping.example", far), ""),
		target("mx1.contoso-shipping.example", 10, "2001:db8::10", valid, chain("mx1.contoso-shipping.example", far), ""),
		target("mx2.contoso-shipping.example", 20, "192.0.2.20", []audit.Verdict{audit.Expired}, chain("mx2.contoso-shipping.example", now.Add(-11*day)), ""),
		target("mx2.contoso-shipping.example", 20, "2001:db8::20", valid, chain("mx2.contoso-shipping.example", far), ""),
	})
	cs.Findings = append(cs.Findings, audit.Finding{Check: "mx", Severity: audit.Warning,
		Message: "MX host gone.contoso-shipping.example does not resolve: DNS A lookup of gone.contoso-shipping.example: NXDOMAIN",
		Remedy:  "Senders skip an MX host that does not resolve: ask the partner to correct or remove the MX record."})
	res.Partners = append(res.Partners, cs)

	provider := chain("mx1.mailprovider.example", far)
	for i, name := range []string{"Hosted Partner One", "Hosted Partner Two"} {
		p := partner(3+i, name, []string{"hosted1.example", "hosted2.example"}[i], false)
		shared := ""
		if i > 0 {
			shared = "Hosted Partner One"
		}
		p.SetTargets([]audit.TargetResult{target("mx1.mailprovider.example", 10, "192.0.2.30", valid, provider, shared)})
		p.NotTested = []string{"mx1.mailprovider.example:25 via 2001:db8::30"}
		res.Partners = append(res.Partners, p)
	}

	null := partner(5, "Null MX Inc", "nullmx.example", false)
	null.Verdict, null.Verdicts = audit.NullMX, []audit.Verdict{audit.NullMX}
	null.Details = map[audit.Verdict]string{audit.NullMX: "nullmx.example publishes a null MX (RFC 7505): it takes no mail"}
	null.Error, null.Remedy = null.Details[audit.NullMX], audit.NullMX.Remedy()
	res.Partners = append(res.Partners, null)

	gone := partner(6, "Vanished Corp", "vanished.example", false)
	gone.Verdict, gone.Verdicts = audit.DNSError, []audit.Verdict{audit.DNSError}
	gone.Details = map[audit.Verdict]string{audit.DNSError: "DNS MX lookup of vanished.example: NXDOMAIN (resolver 192.0.2.53:53)"}
	gone.Error, gone.Remedy = gone.Details[audit.DNSError], audit.DNSError.Remedy()
	res.Partners = append(res.Partners, gone)

	moved := partner(7, "Moved Partner", "moved.example", false)
	moved.Host = "mx.old-moved.example"
	mt := target("mx.old-moved.example", 0, "192.0.2.40", valid, chain("mx.old-moved.example", far), "")
	mt.Found = audit.FoundHost
	moved.SetTargets([]audit.TargetResult{mt})
	moved.Findings = append(moved.Findings, audit.Finding{Check: "drift", Severity: audit.Error,
		Message: "the inventory names mx.old-moved.example for moved.example, but mail to moved.example goes to its MX hosts mx1.mailprovider.example",
		Remedy:  "Update the inventory's host."})
	res.Partners = append(res.Partners, moved)

	res.Changes = []audit.Change{
		{Partner: "Contoso Shipping", Target: "mx2.contoso-shipping.example:25 via 192.0.2.20", Kind: "cert_replaced", Before: "CN=mx2.contoso-shipping.example (old)", After: "CN=mx2.contoso-shipping.example (new)", SinceRun: 7},
	}
	return res
}

// TestTargetsFixture regenerates the fixture under -regen-fixture and checks what the tests rely on.
func TestTargetsFixture(t *testing.T) {
	if *regenFixture {
		if err := audit.WriteResults(filepath.FromSlash(targetsFixturePath), buildTargetsFixture(t)); err != nil {
			t.Fatal(err)
		}
	}
	res := loadTargetsFixture(t)
	cs := res.Partners[0]
	if len(cs.Targets) != 4 || cs.TargetsText() != "1 of 4 addresses" || cs.Verdict != audit.Expired || cs.Host != "mx2.contoso-shipping.example" {
		t.Errorf("Contoso Shipping: %d targets, %q, %s on %s", len(cs.Targets), cs.TargetsText(), cs.Verdict, cs.Host)
	}
	if res.Partners[3].Verdict != audit.NullMX || len(res.Partners[3].Targets) != 0 {
		t.Errorf("null MX partner: %+v", res.Partners[3])
	}
}

func TestTargetsCSV(t *testing.T) {
	res := loadTargetsFixture(t)
	var b bytes.Buffer
	if err := WriteTargetsCSV(&b, res, Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	golden(t, "targets.csv", b.Bytes())
	recs, err := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], TargetsCSVHeader) || len(recs) != 1+4+1+1+1 {
		t.Fatalf("header %v, %d records, want one per target", recs[0], len(recs))
	}
	exp := recs[3]
	if exp[0] != "Contoso Shipping" || exp[2] != "mx2.contoso-shipping.example" || exp[3] != "20" || exp[5] != "192.0.2.20" ||
		exp[6] != "IPv4" || exp[9] != "Expired" || exp[11] != "critical" || exp[15] != "-11" {
		t.Errorf("expired target row %q", exp)
	}
	if recs[6][19] != "Hosted Partner One" {
		t.Errorf("shared probe not said: %q", recs[6])
	}
	// partners.csv counts each partner's addresses.
	b.Reset()
	if err := WritePartnersCSV(&b, res, Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	prs, _ := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
	n := len(PartnersCSVHeader)
	if prs[0][n-2] != "addresses" || prs[1][n-2] != "4" || prs[1][n-1] != "1" || prs[4][n-2] != "0" {
		t.Errorf("partners.csv addresses: %q / %q / %q", prs[0][n-2:], prs[1][n-2:], prs[4][n-2:])
	}
}

// TestTargetsSheet: the workbook's Targets sheet has one row per MX
// address in a table (filter buttons on every column).
func TestTargetsSheet(t *testing.T) {
	res := loadTargetsFixture(t)
	f := openXLSX(t, res)
	rows := sheetRows(t, f, SheetTargets)
	if len(rows) != 1+7 || rows[0][2] != "MX host" || rows[0][5] != "Address" {
		t.Fatalf("Targets: %d rows, header %q", len(rows), rows[0])
	}
	if r := rows[3]; r[0] != "Contoso Shipping" || r[2] != "mx2.contoso-shipping.example" || r[5] != "192.0.2.20" || r[9] != "Expired" {
		t.Errorf("row 3: %q", r)
	}
	tables, err := f.GetTables(SheetTargets)
	if err != nil || len(tables) != 1 || tables[0].Range != "A1:T8" || tables[0].Name != "Targets" {
		t.Errorf("Targets tables %+v, %v", tables, err)
	}
	partners := sheetRows(t, f, SheetPartners)
	h := partners[0]
	if i := slices.Index(h, "Addresses failing"); i < 0 || partners[1][i] != "1" || partners[1][i-1] != "4" {
		t.Errorf("Partners sheet: %q / %q", h, partners[1])
	}
}

// TestTargetsPDF: the report shows each partner's targets as a small table;
// the partner's own report too.
func TestTargetsPDF(t *testing.T) {
	res := loadTargetsFixture(t)
	text, _ := pdfText(t, renderPDF(t, res, Options{NoFontSearch: true}))
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{"Mail servers audited: 4 addresses, failing: 1 of 4 addresses", "mx2.contoso-shipping.example", "2001:db8::20",
		"192.0.2.20", "nullmx.example publishes a null MX", "vanished.example: NXDOMAIN"} {
		if !strings.Contains(flat, want) {
			t.Errorf("report.pdf lacks %q", want)
		}
	}
	var b bytes.Buffer
	if err := PartnerPDF(&b, res, "Contoso Shipping", Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	text, _ = pdfText(t, b.Bytes())
	flat = strings.Join(strings.Fields(text), " ")
	for _, want := range []string{"Mail servers audited: 4 addresses", "2001:db8::10", "mx1.contoso-shipping.example"} {
		if !strings.Contains(flat, want) {
			t.Errorf("the partner's PDF lacks %q", want)
		}
	}
	if strings.Contains(flat, "Hosted Partner") || strings.Contains(flat, "gone.contoso") && !strings.Contains(flat, "does not resolve") {
		t.Error("the partner's PDF tells of others")
	}
}

// TestRenderSchema1: a results.json of the previous schema, written by an
// earlier mxaudit, renders in every format.
func TestRenderSchema1(t *testing.T) {
	res, err := audit.ReadResults(filepath.Join("..", "audit", "testdata", "results-schema1.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := WriteAll(context.Background(), dir, res, AllFormats, true, Options{NoFontSearch: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Errorf("wrote %v", files)
	}
	f := openXLSX(t, res)
	if rows := sheetRows(t, f, SheetTargets); len(rows) != 1+len(res.Partners)-1 { // every partner had one address but the one whose host did not resolve
		t.Errorf("Targets sheet of a schema-1 run: %d rows for %d partners", len(rows), len(res.Partners))
	}
}
