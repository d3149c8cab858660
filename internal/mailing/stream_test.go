package mailing

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/reports"
)

// TestFileNamer: the names given one partner at a time are reports.PartnerFileNames' for the run held whole.
func TestFileNamer(t *testing.T) {
	tests := []struct {
		name  string
		names []string
	}{
		{"distinct", []string{"Contoso", "Fabrikam", "Müller GmbH"}},
		{"the same slug", []string{"A b", "A-b", "a b", "A  b"}},
		{"a suffix taken by another name", []string{"X y", "X-y-2", "x y", "X y!"}},
		{"a name again", []string{"Twin", "Twin", "Other", "Twin"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := &audit.Results{}
			for _, n := range tc.names {
				res.Partners = append(res.Partners, audit.Result{Partner: audit.Partner{Name: n}})
			}
			want := reports.PartnerFileNames(res)
			n := fileNamer{taken: map[nameKey]struct{}{}}
			byName := map[string]string{}
			for i, name := range tc.names {
				if _, ok := byName[name]; !ok {
					byName[name] = n.next(name)
				}
				if byName[name] != want[i] {
					t.Errorf("%q: %q, want %q", name, byName[name], want[i])
				}
			}
		})
	}
}

// consecutive is the issue's run with Fabrikam's two rows next to each other.
func consecutive() *audit.Results {
	res := issueFixture()
	fb := res.Partners[5]
	res.Partners = slices.Insert(res.Partners[:5], 4, fb)
	return res
}

// TestComposeFromFile: a results.json read as a stream composes the very
// messages (recipients, subjects, bodies, attachments) the run held whole
// does, in the same order, whether a partner's rows are consecutive or
// scattered (schema 1).
func TestComposeFromFile(t *testing.T) {
	schema1, err := audit.ReadResults(filepath.Join("..", "..", "audit", "testdata", "results-schema1.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		res  *audit.Results
		opts Options
	}{
		{"one row per partner", fixture(), Options{Owner: "owner@corp.example"}},
		{"a name's rows scattered", issueFixture(), Options{Owner: "owner@corp.example", XLSX: true}},
		{"a name's rows consecutive", consecutive(), Options{Owner: "owner@corp.example"}},
		{"named partners", issueFixture(), Options{Partners: []string{"Fabrikam", "Northwind"}}},
		{"schema 1 demo run", schema1, Options{OnlyFailing: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "results.json")
			if err := audit.WriteResults(path, tc.res); err != nil {
				t.Fatal(err)
			}
			held, err := audit.ReadResults(path)
			if err != nil {
				t.Fatal(err)
			}
			rf, err := audit.OpenResults(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.opts.Sender, tc.opts.Date = "audit@corp.example", started
			want, err := Compose(held, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got Plan
			err = ComposeFrom(rf.Head, rf.Each, tc.opts, func(b Batch) error {
				if b.Skip != nil {
					got.Skipped = append(got.Skipped, *b.Skip)
				}
				got.Messages = append(got.Messages, b.Messages...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(want.Messages) < 2 {
				t.Fatalf("%d messages: nothing to compare", len(want.Messages))
			}
			if !slices.Equal(got.Skipped, want.Skipped) {
				t.Errorf("skipped %v, want %v", got.Skipped, want.Skipped)
			}
			if len(got.Messages) != len(want.Messages) {
				t.Fatalf("%d messages, want %d", len(got.Messages), len(want.Messages))
			}
			for i, w := range want.Messages {
				g := got.Messages[i]
				if g.Who() != w.Who() || g.Subject != w.Subject || g.Situation != w.Situation ||
					!slices.Equal(g.Hosts, w.Hosts) || !slices.Equal(g.Attachments, w.Attachments) {
					t.Errorf("message %d: %s %q %v %v, want %s %q %v %v", i, g.Who(), g.Subject, g.Hosts, g.Attachments, w.Who(), w.Subject, w.Hosts, w.Attachments)
					continue
				}
				gp, wp := parseMessage(t, g), parseMessage(t, w)
				if gp.Body != wp.Body {
					t.Errorf("%s: body\n%s\nwant\n%s", g.Who(), gp.Body, wp.Body)
				}
				for k, a := range wp.Attachments {
					same := bytes.Equal(gp.Attachments[k].Data, a.Data)
					if strings.HasSuffix(a.Name, ".xlsx") { // the workbook says when it was written
						same = maps.Equal(xlsxParts(t, gp.Attachments[k].Data), xlsxParts(t, a.Data))
					}
					if !w.Owner && !same {
						t.Errorf("%s: attachment %s differs", g.Who(), a.Name)
					}
				}
			}
		})
	}
}

// xlsxParts returns the cells of a workbook by part name (the other parts
// list what excelize knows in no fixed order, and when it was written).
func xlsxParts(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("workbook: %v", err)
	}
	out := map[string]string{}
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, "xl/worksheets/") && f.Name != "xl/sharedStrings.xml" {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		x, err := io.ReadAll(io.LimitReader(rc, 16<<20))
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = string(x)
	}
	return out
}

func parseMessage(t *testing.T, m *Message) parsed {
	t.Helper()
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return parse(t, b.Bytes())
}

// TestOwnerListCap: the owner's lists stop at the cap and count the rest.
func TestOwnerListCap(t *testing.T) {
	defer func(n int) { ownerListCap = n }(ownerListCap)
	ownerListCap = 2
	res := fixture()
	plan, err := Compose(res, Options{Sender: "audit@corp.example", Owner: "owner@corp.example", Date: started})
	if err != nil {
		t.Fatal(err)
	}
	owner := parseMessage(t, plan.Messages[len(plan.Messages)-1]).Body
	for _, want := range []string{
		"* Müller GmbH (failing): it@mueller.example, pki@mueller.example\n* Expiring Ltd (expiring): admin@expiring.example\n" +
			"* and 3 more (the output of mxaudit mail lists every message)\n",
		"* Nocontact AG: no contact in the inventory\n\n",
		"6 partners: 4 with a TLS problem",
	} {
		if !strings.Contains(owner, want) {
			t.Errorf("owner's message lacks %q:\n%s", want, owner)
		}
	}
	if strings.Contains(owner, "Quiet Corp") || strings.Contains(owner, "more (the output of mxaudit mail lists every partner left out)") {
		t.Errorf("owner's message lists past the cap:\n%s", owner)
	}
}

// writeRun writes a results.json of n partners, one in every 1000 with a contact, with WriteResultsStream.
func writeRun(t testing.TB, path string, n int) {
	t.Helper()
	head := &audit.Results{Schema: audit.SchemaVersion, Started: started, Finished: started.Add(time.Hour),
		PrivateRoots: []audit.PrivateRoot{}, InventoryErrors: []audit.InventoryError{}}
	far := started.AddDate(1, 0, 0)
	err := audit.WriteResultsStream(path, head, func(fn func(*audit.Result) error) error {
		for i := range n {
			d := fmt.Sprintf("p%07d.example", i)
			contact := ""
			if i%1000 == 0 {
				contact = "tls@" + d
			}
			r := result(fmt.Sprintf("Partner %07d", i), d, false, contact, []audit.Verdict{audit.Valid}, cert("CN=mx."+d, "CN=Public CA", far))
			if err := fn(&r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMailFromBounded: a dry run of 100,000 partners read from results.json
// holds about what one of 10,000 holds: the live heap, sampled every 5,000
// partners read, grows by less than 64 bytes a partner (the set of 16-byte
// name hashes of the first pass, then that of the file names).
func TestMailFromBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and mails 100,000 partners")
	}
	dir := t.TempDir()
	peaks := map[int]uint64{}
	for _, n := range []int{10_000, 100_000} {
		path := filepath.Join(dir, fmt.Sprintf("results-%d.json", n))
		writeRun(t, path, n)
		rf, err := audit.OpenResults(path)
		if err != nil {
			t.Fatal(err)
		}
		var ms runtime.MemStats
		var peak uint64
		seen := 0
		sampled := func(fn func(*audit.Result) error) error {
			return rf.Each(func(r *audit.Result) error {
				if seen++; seen%5000 == 0 {
					runtime.GC()
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
				}
				return fn(r)
			})
		}
		runtime.GC()
		tr := &Dir{Path: filepath.Join(dir, fmt.Sprintf("eml-%d", n)), Forget: true}
		tot, err := MailFrom(context.Background(), rf.Head, sampled, tr, Job{DryRun: true, Out: io.Discard,
			Compose: Options{Sender: "audit@corp.example", Date: started}})
		if err != nil {
			t.Fatal(err)
		}
		if want := (Totals{Sent: n / 1000, Skipped: n - n/1000}); tot != want {
			t.Errorf("%d partners: %+v, want %+v", n, tot, want)
		}
		if len(tr.Written) != 0 {
			t.Errorf("Forget: %d files listed", len(tr.Written))
		}
		peaks[n] = peak
		t.Logf("%d partners: peak live heap %.1f MiB over %d partners read", n, float64(peak)/(1<<20), seen)
	}
	if grow := int64(peaks[100_000]) - int64(peaks[10_000]); grow > 90_000*64 {
		t.Errorf("peak heap grew by %d bytes from 10,000 to 100,000 partners: over 64 bytes a partner", grow)
	}
}

// TestComposeFromErrors: what goes wrong is said before anything is composed
// when it can be (an unknown partner), and otherwise ends the composing.
func TestComposeFromErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.json")
	if err := audit.WriteResults(path, issueFixture()); err != nil {
		t.Fatal(err)
	}
	rf, err := audit.OpenResults(path)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	broken := errors.New("disk gone")
	tests := []struct {
		name     string
		opts     Options
		partners audit.Each
		fn       func(Batch) error
		want     error
		batches  int // handed to fn before the error
	}{
		{"unknown partner", Options{Partners: []string{"Nobody"}}, rf.Each, nil, &UnknownPartnerError{}, 0},
		{"fn fails", Options{}, rf.Each, func(Batch) error { return stop }, stop, 1},
		{"the partners cannot be read", Options{}, func(func(*audit.Result) error) error { return broken }, nil, broken, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Sender, tc.opts.Date = "audit@corp.example", started
			n := 0
			err := ComposeFrom(rf.Head, tc.partners, tc.opts, func(b Batch) error {
				n++
				if tc.fn != nil {
					return tc.fn(b)
				}
				return nil
			})
			if upe := (*UnknownPartnerError)(nil); errors.As(tc.want, &upe) {
				if !errors.As(err, &upe) || !slices.Equal(upe.Names, []string{"Nobody"}) {
					t.Errorf("error %v, want the unknown partner named", err)
				}
			} else if !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if n != tc.batches {
				t.Errorf("%d batches composed, want %d", n, tc.batches)
			}
		})
	}
}
