package pipeline

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks"
	"github.com/mxaudit/mxaudit/internal/history"
	"github.com/mxaudit/mxaudit/internal/inventory"
	"github.com/mxaudit/mxaudit/internal/inventory/formats"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
	"github.com/mxaudit/mxaudit/internal/revocation"
	"github.com/mxaudit/mxaudit/internal/shard"
	"github.com/mxaudit/mxaudit/internal/spill"
	"github.com/mxaudit/mxaudit/internal/trust"
	"github.com/mxaudit/mxaudit/reports"
)

// Config is everything one audit run needs; the CLI fills it from its flags,
// the environment and the config file.
type Config struct {
	Inventory string // the inventory file; ignored when Partners is set
	// InventoryID is the name the history knows the inventory by
	// (--inventory-id); "" for its absolute path.
	InventoryID string
	Partners    []audit.Partner // audit these instead of reading Inventory (mxaudit probe)
	Strict      bool            // a bad inventory row aborts the run before any probe
	MTA         MTA             // our own MTA's TLS policy: the inventory itself, or a CSV's policy column

	Trust      trust.Options
	Revocation revocation.Options
	Probe      Options // concurrency, limits and probe settings; the trust fields are filled in by Scan
	// Thresholds the run is graded by ([thresholds] of the config file);
	// the zero value means audit.DefaultThresholds().
	Thresholds audit.Thresholds
	Checks     Checks
	History    History
	Out        string // directory for results.json and the reports; "" writes nothing
	Reports    Reports
	Metrics    string // Prometheus textfile to write, or ""

	Logger   *slog.Logger // slog.Default() when nil
	Problems io.Writer    // bad inventory rows and unreadable trust files, a line each, for a person (stderr); nil for none
	Progress io.Writer    // a progress bar for the probes, or nil

	Vantage  string     // where the probes leave from (--vantage); changes are computed per vantage point
	RunLabel string     // ties the shards of one audit together (--run-label)
	Shard    shard.Spec // the slice of the inventory to audit (--shard K/N); the zero Spec for all of it

	// Hold keeps every partner's result in the Run Scan returns (mxaudit
	// probe, tests); a scan streams them out and holds none.
	Hold bool
}

// Checks selects and configures the check stage.
type Checks struct {
	Disabled bool
	Builtin  func() *exec.Cmd // serves the built-in checks (the binary re-executed)
	Dirs     []string         // where to look for plugins; nil means checks.DefaultDirs()
	Only     []string
	Skip     []string
	Settings checks.Config
	Timeout  time.Duration
}

// History says where the run is recorded.
type History struct {
	Disabled bool
	Path     string // an SQLite file or a postgres:// URL; "" means history.DefaultPath()
}

// Reports says which reports the write stage renders.
type Reports struct {
	Formats    []reports.Format
	PerPartner bool
	Options    reports.Options
}

// Scan runs inventory -> probe -> verify -> revocation -> published
// policies -> delivery -> checks -> history -> write, and returns the run
// with every error of the run joined.
//
// The partners leave memory as they complete: probed into a spill file,
// read back in inventory order a batch at a time for delivery, checks and
// history into a second one, which every writer reads. The run returned
// holds no partner unless Config.Hold asks for them.
//
// Cancelling ctx is an interrupt: the stage under way stops, the results
// so far are marked incomplete and still recorded and written. Results are
// written whatever happens to the history; ExitCode maps the error.
func Scan(ctx context.Context, cfg Config) (*Run, error) {
	log := cfg.logger()
	if err := cfg.checkNames(); err != nil {
		return nil, err
	}
	if err := writable(cfg.Out); err != nil {
		return nil, err
	}
	partners, invErrs, mta, done, err := cfg.partners(log)
	if err != nil {
		return nil, err
	}
	defer done()
	tr, err := cfg.loadTrust(log)
	if err != nil {
		return nil, err
	}
	var chk *checkRun
	if !cfg.Checks.Disabled {
		if chk, err = openChecks(ctx, cfg.Checks, log); err != nil {
			return nil, err
		}
		defer chk.close()
	}
	hist, err := openHistory(cfg, log)
	if err != nil {
		return nil, err // another scan holds the lock: nothing was done
	}
	defer hist.close()

	probedSt, err := spill.Create[probed](cfg.Out)
	if err != nil {
		return nil, &WriteError{File: cfg.Out, Err: err}
	}
	defer probedSt.Close()
	out, err := spill.Create[audit.Result](cfg.Out)
	if err != nil {
		return nil, &WriteError{File: cfg.Out, Err: err}
	}
	defer out.Close()

	head, held := probeStage(ctx, cfg, partners, tr, probedSt, mta != nil, log)
	head.Vantage, head.RunLabel, head.Shard = cfg.Vantage, cfg.RunLabel, cfg.Shard.String()
	head.InventoryErrors = append(head.InventoryErrors, invErrs...)
	head.TrustErrors = tr.TrustErrors()
	f := &finisher{cfg: cfg, head: head, hist: hist, rec: hist.recorder(head), out: out, log: log,
		decide: deliveryDecider(cfg, head, mta, tr)}
	if f.checks, err = startChecks(ctx, chk, head, log); err != nil {
		return nil, err
	}
	finishErr := f.run(ctx, func(fn func(*probed) error) error { return eachProbed(probedSt, held, fn) })
	if finishErr != nil {
		log.Error("results lost", "error", finishErr)
	}
	probedSt.Close()
	run := &Run{Results: head, Tally: f.tally}
	writeErr := writeStage(ctx, cfg, head, spilledPartners(out), log)
	if cfg.Hold {
		head.Partners = f.held
	}
	return run, errors.Join(hist.err, finishErr, writeErr, interrupted(head))
}

// problem prints one line about bad input for a person.
func (cfg Config) problem(line string) {
	if cfg.Problems != nil {
		fmt.Fprintln(cfg.Problems, line)
	}
}

func (cfg Config) logger() *slog.Logger {
	if cfg.Logger != nil {
		return cfg.Logger
	}
	return slog.Default()
}

// partners returns the rows to audit: cfg.Partners, or the inventory's
// rows of cfg.Shard (a partner CSV, read a row at a time into a spill
// file, or our MTA's TLS policy), and our MTA's policy when the inventory
// gives one; done lets go of the rows. A run with no row left to audit is
// a usage error, never a run.
func (cfg Config) partners(log *slog.Logger) (rows Rows, invErrs []audit.InventoryError, m *mtapolicy.MTA, done func(), err error) {
	if cfg.Partners != nil {
		return sliceRows(cfg.Partners), nil, nil, func() {}, nil
	}
	in, err := cfg.readInventory(log)
	if err != nil {
		return nil, nil, nil, nil, &UsageError{Err: err}
	}
	for _, e := range in.errs {
		cfg.problem(e.Error())
	}
	if len(in.errs) > 0 {
		log.Warn("inventory rows skipped", "file", cfg.Inventory, "rows", len(in.errs))
	}
	var refuse error
	switch {
	case len(in.errs) > 0 && cfg.Strict:
		refuse = fmt.Errorf("%s: %d bad rows; nothing probed (--strict)", cfg.Inventory, len(in.errs))
	case in.total == 0 && len(in.errs) > 0:
		refuse = fmt.Errorf("%s: no row could be read (%d bad rows); nothing probed and nothing recorded", cfg.Inventory, len(in.errs))
	case in.total == 0:
		refuse = fmt.Errorf("%s: no partners; nothing probed and nothing recorded", cfg.Inventory)
	}
	if refuse != nil {
		in.done()
		return nil, nil, nil, nil, &UsageError{Err: refuse}
	}
	// Shard 0 alone keeps the inventory's bad rows, so that the shards of
	// a run label, put together, list each once. A shard holding no row is
	// still a run (empty), so that the run label shows it finished.
	if !cfg.Shard.Whole() {
		log.Info("shard of the inventory", "shard", cfg.Shard.String(), "rows", in.rows.Len(), "of", in.total)
		if cfg.Shard.K != 0 {
			in.errs = nil
		}
	}
	return in.rows, in.errs, in.mta, in.done, nil
}

// inventoryRead is an inventory as a run reads it.
type inventoryRead struct {
	rows  Rows // the rows of cfg.Shard
	total int  // good rows in the whole inventory
	errs  []audit.InventoryError
	mta   *mtapolicy.MTA
	done  func() // lets go of rows
}

// readInventory reads the inventory file in its format: a partner CSV
// (whose policy column, if any, is our MTA's policy), a row at a time into
// a spill file, or an MTA's own file, whole.
func (cfg Config) readInventory(log *slog.Logger) (*inventoryRead, error) {
	format, err := cfg.inventoryFormat()
	if err != nil {
		return nil, err
	}
	if format != formats.Unknown && format != formats.PartnerCSV {
		m, partners, errs, err := cfg.mtaInventory(format, log)
		if err != nil {
			return nil, err
		}
		return &inventoryRead{rows: sliceRows(cfg.Shard.Select(partners)), total: len(partners), errs: errs, mta: m, done: func() {}}, nil
	}
	st, err := spill.Create[audit.Partner](cfg.Out)
	if err != nil {
		return nil, err
	}
	in := &inventoryRead{done: func() { st.Close() }}
	var withPolicy []audit.Partner // the rows naming our MTA's policy for their domain
	f, err := inventory.Stream(cfg.Inventory, func(p audit.Partner) error {
		in.total++
		if p.Extra[formats.PolicyColumn] != "" {
			withPolicy = append(withPolicy, p)
		}
		if !cfg.Shard.Holds(p) {
			return nil
		}
		return st.Put(st.Len(), &p)
	})
	if err != nil {
		in.done()
		return nil, err
	}
	if f.Encoding != inventory.EncodingUTF8 {
		log.Warn("inventory is not UTF-8: read as "+f.Encoding+" (as Excel saves CSV); save it as CSV UTF-8 to be sure", "file", cfg.Inventory)
	}
	m, errs, err := cfg.columnPolicy(withPolicy)
	if err != nil {
		in.done()
		return nil, err
	}
	in.rows, in.errs, in.mta = &spillRows{st: st, log: log}, append(f.Errors, errs...), m
	return in, nil
}

// spillRows is an inventory read back from a spill file, a row at a time.
type spillRows struct {
	st   *spill.Store[audit.Partner]
	log  *slog.Logger
	once sync.Once
}

func (s *spillRows) Len() int { return s.st.Len() }

// Row reads row k; a row the spill file cannot give back (a disk failing
// under the run) is audited as an empty row, and the log says so once.
func (s *spillRows) Row(k int) audit.Partner {
	p, err := s.st.Get(k)
	if err != nil || p == nil {
		s.once.Do(func() { s.log.Error("inventory spill file unreadable: rows are lost", "error", err) })
		return audit.Partner{Name: fmt.Sprintf("(inventory row %d unreadable)", k)}
	}
	return *p
}

// inventoryKey is the name the history knows the inventory by: its
// InventoryID, or its absolute path ("" without an inventory file).
func (cfg Config) inventoryKey() (string, error) {
	if cfg.InventoryID != "" || cfg.Inventory == "" {
		return cfg.InventoryID, nil
	}
	return filepath.Abs(cfg.Inventory)
}

// checkNames refuses a vantage point or run label that cannot be recorded.
func (cfg Config) checkNames() error {
	if err := history.CheckName("--vantage", cfg.Vantage); err != nil {
		return &UsageError{Err: err}
	}
	if err := history.CheckName("--run-label", cfg.RunLabel); err != nil {
		return &UsageError{Err: err}
	}
	if err := history.CheckName("--inventory-id", cfg.InventoryID); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}

// loadTrust builds the trust store; every file it had to skip is said to
// the person (even under --quiet) and kept for results.json.
func (cfg Config) loadTrust(log *slog.Logger) (*trust.Store, error) {
	st, err := trust.New(cfg.Trust)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	for _, e := range st.TrustErrors() {
		cfg.problem(fmt.Sprintf("%s: skipped: %s", e.File, e.Message))
	}
	for _, w := range st.Warnings {
		log.Warn(w.Error())
	}
	return st, nil
}

// writable makes dir and proves a file can be created in it, before any probe.
func writable(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &UsageError{Err: fmt.Errorf("--out: %w", err)}
	}
	f, err := os.CreateTemp(dir, ".mxaudit-writable-*")
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--out %s is not writable: %w", dir, err)}
	}
	f.Close()
	return os.Remove(filepath.Join(dir, filepath.Base(f.Name())))
}

// probeStage probes, verifies and inspects every partner, each into st
// as it completes; the results returned hold no partner (those st refused
// are in held).
func probeStage(ctx context.Context, cfg Config, partners Rows, tr *trust.Store, st *spill.Store[probed], keepRows bool, log *slog.Logger) (*audit.Results, map[int]*probed) {
	now := time.Now()
	opts := cfg.Probe
	opts.Roots, opts.StoreOf, opts.PrivateRoots, opts.Now = tr.Pool, tr.StoreOf, tr.PrivateRoots(now), now
	opts.Thresholds = cfg.Thresholds
	if opts.Published.Roots == nil && cfg.Trust.RootsFile != "" {
		// --roots replaces the system roots: the public ones, for MTA-STS too (never the private ones).
		opts.Published.Roots = publicRoots(cfg.Trust.RootsFile)
	}
	opts.Inspect = revocation.NewFetcher(cfg.Revocation).Inspector(tr.Pool, now)
	opts.Progress = cfg.Progress
	log.Info("scan started", "rows", partners.Len(), "inventory", cfg.Inventory)
	res, held := probeSpilled(ctx, partners, opts, st, keepRows, log)
	res.Inventory = cfg.Inventory
	res.Finished = time.Now().UTC()
	for _, n := range res.Notes {
		log.Warn(n)
	}
	if opts.DNS != nil {
		st := opts.DNS.Stats()
		log.Info("dns", "resolvers", strings.Join(opts.DNS.Servers(), ","), "queries", st.Queries, "over_tcp", st.TCP, "answered_from_cache", st.CacheHits)
	}
	return res, held
}

// startChecks begins the check session over head's partners, or returns
// nil when there are no checks, the run was interrupted while probing
// (what is done is written, unchecked) or the plugins failed (the run is
// then incomplete); only a usage error stops the run.
func startChecks(ctx context.Context, chk *checkRun, head *audit.Results, log *slog.Logger) (*checkRun, error) {
	if chk == nil || ctx.Err() != nil {
		return nil, nil
	}
	if err := chk.start(ctx, head); err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			return nil, err
		}
		head.Incomplete = true
		log.Warn("checks not run; results are incomplete", "error", err)
		return nil, nil
	}
	return chk, nil
}

// interrupted returns ErrInterrupted when res is incomplete.
func interrupted(res *audit.Results) error {
	if res.Incomplete {
		return ErrInterrupted
	}
	return nil
}

// publicRoots is the pool of the certificates of a --roots file (read
// already by the trust store, so its errors are said there), or nil.
func publicRoots(file string) *x509.CertPool {
	certs, _ := trust.ReadFile(file)
	if len(certs) == 0 {
		return nil
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}
