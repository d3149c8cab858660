package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/history"
	"github.com/mxaudit/mxaudit/internal/probe"
	"github.com/mxaudit/mxaudit/internal/trust"
	"github.com/mxaudit/mxaudit/reports"
)

// oneServer starts a valid partner on loopback and returns a config that
// audits it into out, without checks, with its root as the only root.
func oneServer(t *testing.T) (Config, *atomic.Int32) {
	t.Helper()
	now := time.Now()
	root, err := fleet.NewRoot(fleet.CertSpec{CommonName: "Scan Root", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.Issue(fleet.CertSpec{CommonName: "mx.scan.example", DNSNames: []string{"mx.scan.example"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := fleet.Listen("127.0.0.1:0", fleet.Behavior{Cert: leaf.TLSCert()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	dir := t.TempDir()
	rootsFile := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(rootsFile, fleet.PEM(root.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(dir, "inventory.csv")
	if err := os.WriteFile(inv, []byte("partner,host,address\nScan AG,mx.scan.example,"+s.Addr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	cfg := Config{
		Inventory: inv,
		Trust:     trustOptions(rootsFile),
		Probe:     Options{Probe: probe.Options{HELO: "audit.test", Timeout: 5 * time.Second, Dial: countingDial(&dials)}},
		Checks:    Checks{Disabled: true},
		History:   History{Path: filepath.Join(dir, "history.db")},
		Out:       filepath.Join(dir, "out"),
		Reports:   Reports{Formats: []reports.Format{reports.JSON, reports.CSV}, Options: reports.Options{NoFontSearch: true}},
		Logger:    slog.New(slog.DiscardHandler),
	}
	cfg.Revocation.Offline = true
	return cfg, &dials
}

func TestScanHistoryLocked(t *testing.T) {
	cfg, dials := oneServer(t)
	lock, err := history.TryLock(cfg.History.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	cfg.Hold = true
	res, err := Scan(context.Background(), cfg)
	var le *history.LockedError
	if !errors.As(err, &le) || ExitCode(res, err, audit.Error) != ExitLocked {
		t.Fatalf("scan under a held lock: %v (exit %d)", err, ExitCode(res, err, audit.Error))
	}
	if dials.Load() != 0 {
		t.Errorf("%d probes under a held lock, want none", dials.Load())
	}
}

// TestScanHistoryCorrupt: a corrupt database costs the history, not the
// results: results.json and the reports are written and the exit code says
// what failed, with the hint.
func TestScanHistoryCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, cfg Config)
	}{
		{"not a database", func(t *testing.T, cfg Config) {
			if err := os.WriteFile(cfg.History.Path, []byte(strings.Repeat("this is not a database\n", 400)), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"damaged pages", func(t *testing.T, cfg Config) {
			// A real history database from an earlier scan, its pages after the header overwritten.
			cfg.Hold = true
			if _, err := Scan(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(cfg.History.Path)
			if err != nil || len(b) < 8192 {
				t.Fatalf("history database: %d bytes, %v", len(b), err)
			}
			for i := 4096; i < len(b); i++ {
				b[i] = byte(i * 7)
			}
			if err := os.WriteFile(cfg.History.Path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Remove(cfg.History.Path + "-wal")
			os.Remove(filepath.Join(cfg.Out, reports.FileResultsJSON))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, dials := oneServer(t)
			tc.corrupt(t, cfg)
			dials.Store(0)
			cfg.Hold = true
			res, err := Scan(context.Background(), cfg)
			if code := ExitCode(res, err, audit.Error); code != ExitHistory {
				t.Fatalf("exit %d (%v), want %d", code, err, ExitHistory)
			}
			if !strings.Contains(err.Error(), "--no-history") || !strings.Contains(err.Error(), "history --check") {
				t.Errorf("no hint in %q", err)
			}
			if dials.Load() == 0 || res == nil || res.Partners[0].Verdict != audit.Valid {
				t.Fatalf("the scan did not run: %d dials, %+v", dials.Load(), res)
			}
			for _, f := range []string{reports.FileResultsJSON, reports.FilePartnersCSV} {
				if _, err := os.Stat(filepath.Join(cfg.Out, f)); err != nil {
					t.Errorf("%s not written: %v", f, err)
				}
			}
		})
	}
}

// TestScanNoRows: an inventory of which no row survives is not a run: exit
// 2, no probe, nothing recorded that could become a baseline.
func TestScanNoRows(t *testing.T) {
	cfg, dials := oneServer(t)
	// Windows-1252 bytes where a port number belongs: every row is bad.
	if err := os.WriteFile(cfg.Inventory, []byte("partner,host,port\nM\xfcller,mx.m.example,2x5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Hold = true
	res, err := Scan(context.Background(), cfg)
	if code := ExitCode(res, err, audit.Error); code != ExitUsage || !strings.Contains(err.Error(), "no row could be read") {
		t.Fatalf("exit %d (%v), want %d", code, err, ExitUsage)
	}
	if dials.Load() != 0 {
		t.Errorf("%d probes", dials.Load())
	}
	if _, err := os.Stat(cfg.History.Path); err == nil {
		db, err := history.Open(cfg.History.Path, history.Options{MustExist: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if runs, _ := db.Runs(history.RunFilter{}); len(runs) != 0 {
			t.Errorf("runs recorded: %+v", runs)
		}
	}
}

// TestScanOutNotWritable: an --out that cannot be written is found before
// the first probe.
func TestScanOutNotWritable(t *testing.T) {
	// --out is a file: a read-only directory would not stop root, who runs the tests in CI.
	cfg, dials := oneServer(t)
	if err := os.WriteFile(cfg.Out, []byte("a file, not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Hold = true
	res, err := Scan(context.Background(), cfg)
	if code := ExitCode(res, err, audit.Error); code != ExitUsage || !strings.Contains(err.Error(), "--out") {
		t.Fatalf("exit %d (%v), want %d", code, err, ExitUsage)
	}
	if dials.Load() != 0 {
		t.Errorf("%d probes before the unwritable --out was noticed", dials.Load())
	}
}

// TestScanInterruptedWrites: an interrupt during the probes still writes
// and records what is done, marked incomplete, exit 130.
func TestScanInterruptedWrites(t *testing.T) {
	cfg, _ := oneServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg.Hold = true
	res, err := Scan(ctx, cfg)
	if code := ExitCode(res, err, audit.Error); code != ExitInterrupted {
		t.Fatalf("exit %d (%v), want %d", code, err, ExitInterrupted)
	}
	back, err := audit.ReadResults(filepath.Join(cfg.Out, reports.FileResultsJSON))
	if err != nil || !back.Incomplete || back.Partners[0].Verdict != audit.NotProbed {
		t.Fatalf("results after an interrupt: %v %+v", err, back)
	}
}

func trustOptions(rootsFile string) trust.Options { return trust.Options{RootsFile: rootsFile} }

func countingDial(n *atomic.Int32) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
}

// TestInventoryID: the history knows an inventory by --inventory-id when
// given, not by its path: a shard's host reading the same inventory from
// another path continues the same history (the second night's partner
// that left is a change), while without the id it is another inventory.
func TestInventoryID(t *testing.T) {
	cfg, _ := oneServer(t)
	text, err := os.ReadFile(cfg.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id    string
		wantRemoved bool
	}{
		{name: "by id", id: "partners", wantRemoved: true},
		{name: "by path", id: "", wantRemoved: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			dir := t.TempDir()
			c.History.Path, c.InventoryID = filepath.Join(dir, "history.db"), tc.id
			for night, rows := range []string{string(text) + "Gone AG,mx.gone.example,127.0.0.1:1\n", string(text)} {
				c.Inventory = filepath.Join(dir, fmt.Sprintf("host%d", night), "inventory.csv")
				if err := os.MkdirAll(filepath.Dir(c.Inventory), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(c.Inventory, []byte(rows), 0o644); err != nil {
					t.Fatal(err)
				}
				run, err := Scan(context.Background(), c)
				if err != nil {
					t.Fatal(err)
				}
				if night == 0 {
					continue
				}
				removed := slices.ContainsFunc(run.Changes, func(ch audit.Change) bool {
					return ch.Kind == audit.ChangePartnerRemoved && ch.Partner == "Gone AG"
				})
				if removed != tc.wantRemoved {
					t.Errorf("changes %+v: Gone AG removed %v, want %v", run.Changes, removed, tc.wantRemoved)
				}
			}
		})
	}
}
