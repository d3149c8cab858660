package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks/builtin"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/probe"
	"github.com/mxaudit/mxaudit/internal/trust"
	"github.com/mxaudit/mxaudit/reports"
)

// TestMain serves the built-in checks when the scale bench re-executes
// the test binary as its check plugin.
func TestMain(m *testing.M) {
	if os.Getenv("MXAUDIT_TEST_PLUGIN") == "builtin" {
		builtin.Serve()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Scale bench (make bench-scale, never make test): a real scan (Scan, as
// `mxaudit scan` runs it) of MXAUDIT_SCALE targets read from an inventory
// CSV, one partner each on its own loopback address, at concurrency 2,000.
// scaleAnswering of them are servers of a loopback fleet answering at once
// (STARTTLS, a TLS handshake per key type); the others are addresses of
// 127.64.0.0/10 where nothing listens on port scaleClosedPort (connection
// refused). Everything a scan does runs: the built-in checks (a plugin
// process of their own), the SQLite history, results.json, the CSVs, the
// workbook and the PDF. It prints wall time, targets/s and this process's
// peak RSS (the fleet's servers included; the check plugin's process is
// printed apart); run each size in its own process so the peaks are each
// its own. MXAUDIT_SCALE_HEAP=prefix writes a heap profile every 10 s.
const (
	scaleAnswering  = 1000
	scaleClosedPort = 1
	scaleConc       = 2000
)

func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MXAUDIT_SCALE"))
	if n <= 0 {
		t.Skip("MXAUDIT_SCALE=<targets> not set: the scale bench runs from make bench-scale only")
	}
	f, err := fleet.StartMany(min(scaleAnswering, n), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	inv, roots := filepath.Join(dir, "inventory.csv"), filepath.Join(dir, "roots.pem")
	if err := writeScaleInventory(inv, f.Partners(), n); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(roots, f.RootsPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	var stages bytes.Buffer // the log (slog's handler writes a line at a time): when each stage ended
	cfg := Config{
		Inventory: inv,
		Trust:     trust.Options{RootsFile: roots},
		Probe: Options{Concurrency: scaleConc, PerProvider: scaleConc, Resolver: f.Resolver,
			Probe: probe.Options{HELO: "bench.test", Timeout: 30 * time.Second, ConnectTimeout: 10 * time.Second}},
		Checks: Checks{Builtin: func() *exec.Cmd {
			cmd := exec.Command(os.Args[0])
			cmd.Env = []string{"MXAUDIT_TEST_PLUGIN=builtin"}
			return cmd
		}, Dirs: []string{}},
		History: History{Path: filepath.Join(dir, "history.db")},
		Out:     out,
		Reports: Reports{Formats: []reports.Format{reports.JSON, reports.CSV, reports.XLSX, reports.PDF},
			Options: reports.Options{NoFontSearch: true}},
		Logger: slog.New(slog.NewTextHandler(&stages, nil)),
	}
	if prof := os.Getenv("MXAUDIT_SCALE_HEAP"); prof != "" {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		go func() {
			for k := 1; ; k++ {
				if _, ok := <-tick.C; !ok {
					return
				}
				writeHeap(t, fmt.Sprintf("%s.%d", prof, 10*k))
			}
		}()
	}
	var peakHeap uint64
	stopHeap := watchHeap(&peakHeap)
	start := time.Now()
	run, err := Scan(context.Background(), cfg)
	wall := time.Since(start)
	stopHeap()
	if err != nil {
		t.Fatal(err)
	}
	want := min(scaleAnswering, n)
	if run.Tally.Partners != n || run.Tally.Standings[string(audit.Valid)] != want || run.Tally.Standings[string(audit.ConnectionRefused)] != n-want {
		t.Fatalf("%d partners, standings %v; want %d, %d Valid and %d ConnectionRefused", run.Tally.Partners, run.Tally.Standings, n, want, n-want)
	}
	var sizes []string
	for _, name := range []string{reports.FileResultsJSON, reports.FilePartnersCSV, reports.FileXLSX, reports.FilePDF} {
		fi, err := os.Stat(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fmt.Sprintf("%s %d MB", name, fi.Size()>>20))
	}
	var self, children syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("scale: %d targets (%d answering, %d refused), concurrency %d: scan (probe, checks, history, results.json, CSV, xlsx, PDF) in %s, %.0f targets/s, peak RSS %d MB (heap at most %d MB; check plugin process %d MB), CPU %s user %s sys; %v\n",
		n, want, n-want, scaleConc, wall.Round(time.Millisecond), float64(n)/wall.Seconds(), self.Maxrss>>10, peakHeap>>20, children.Maxrss>>10,
		time.Duration(self.Utime.Nano()).Round(time.Second), time.Duration(self.Stime.Nano()).Round(time.Second), sizes)
	for _, line := range strings.Split(stages.String(), "\n") {
		for _, msg := range []string{"scan started", "checks done", "partners finished", "scan recorded", "results written", "reports written"} {
			if strings.Contains(line, `msg="`+msg+`"`) {
				fmt.Printf("scale:   %s\n", line)
			}
		}
	}
}

// writeScaleInventory writes an inventory CSV of n rows: the fleet's
// partners, then partners on closed loopback addresses.
func writeScaleInventory(path string, answering []audit.Partner, n int) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(fh)
	fmt.Fprintln(w, "partner,host,address,port,tls")
	for i := range n {
		if i < len(answering) {
			p := answering[i]
			fmt.Fprintf(w, "%s,%s,%s,%d,%s\n", p.Name, p.Host, p.Address, p.Port, p.TLS)
			continue
		}
		k := i + 1 // 127.64.0.1 onwards: 4M addresses
		fmt.Fprintf(w, "closed-%07d,closed-%07d.bench.example,127.%d.%d.%d,%d,starttls\n", i, i, 64+k>>16, k>>8&0xff, k&0xff, scaleClosedPort)
	}
	if err := w.Flush(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// writeHeap writes a heap profile to path (MXAUDIT_SCALE_HEAP): where the
// memory of a scale run goes.
func writeHeap(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Error(err)
	}
}
