// Package promfile writes a scan's results as a Prometheus node_exporter
// textfile (the textfile collector reads *.prom files from a directory),
// so a cron-driven mxaudit can be alerted on.
//
// Series, all gauges, each with the label vantage (the run's --vantage,
// "default" without one) and, for a shard (--shard), shard, so that
// scanners sharing a textfile directory never write the same series:
//
//	mxaudit_partner_verdict{partner,host,verdict,severity}  1 for each partner's primary verdict
//	mxaudit_partner_failing{partner}                        1 when that verdict is at severity error or critical
//	mxaudit_partner_leaf_expiry_days{partner,host}          whole days until the leaf certificate expires (negative once expired)
//	mxaudit_partner_leaf_not_after_timestamp_seconds{partner,host}
//	mxaudit_target_verdict{partner,mx,address,port,verdict,severity}  1 for each target's verdict
//	mxaudit_target_leaf_expiry_days{partner,mx,address,port}          days until the target's leaf expires
//	mxaudit_target_leaf_not_after_timestamp_seconds{partner,mx,address,port}
//	mxaudit_partners{verdict}                               partners per verdict, every verdict listed
//	mxaudit_private_root_expiry_days{file,subject}          whole days until each imported private root expires
//	mxaudit_run_start_timestamp_seconds, mxaudit_run_duration_seconds, mxaudit_run_incomplete
//	mxaudit_last_success_timestamp_seconds                  end of the last run that probed every partner
//
// A partner's host is its worst target's MX host, which may change from
// run to run; the mxaudit_target_* series name each target (MX host,
// address, port) and stay the same series while the partner's MX set does.
// Days are counted from the run's start (Results.Started), as in the reports.
package promfile

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"iter"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/reports"
)

// LastSuccessMetric is the series that carries the time of the last successful run.
const LastSuccessMetric = "mxaudit_last_success_timestamp_seconds"

// Options add what the results do not hold.
type Options struct {
	// LastSuccess is the end of the last successful run before this one; it
	// is reported when this run is incomplete. Zero leaves the series out.
	LastSuccess time.Time
}

// Write renders res and writes it to path atomically (a temporary file
// renamed over path, so the collector never reads half a file).
func Write(path string, res *audit.Results, o Options) error {
	if err := audit.WriteFileAtomic(path, Render(res, o)); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	return nil
}

// WriteFrom writes the textfile of the run head (its Partners unused) and
// partners (in results order, ranged once) to path atomically. Memory stays
// bounded: each metric family but the first is spooled to a temporary file
// beside path while partners is ranged, then appended in order; the only
// cost per partner kept is 16 bytes (a hash of its name, for duplicates).
func WriteFrom(path string, head *audit.Results, partners iter.Seq[*audit.Result], o Options) error {
	dir := filepath.Dir(path)
	newSpool := func() (spool, error) {
		f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".part-*")
		if err != nil {
			return nil, err
		}
		return &fileSpool{f: f, w: bufio.NewWriterSize(f, 1<<16)}, nil
	}
	err := audit.WriteAtomic(path, func(w io.Writer) error { return render(w, head, partners, o, newSpool) })
	if err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	return nil
}

// LastSuccess reads the time of the last successful run from a textfile
// this package wrote; a missing file or series gives the zero time.
func LastSuccess(path string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("metrics file: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), LastSuccessMetric)
		if !ok || v == "" || v[0] != ' ' && v[0] != '{' {
			continue
		}
		if _, after, labels := strings.Cut(v, "} "); labels { // {vantage="..."} since labels were added
			v = after
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("metrics file %s: %s: %w", path, LastSuccessMetric, err)
		}
		return time.UnixMilli(int64(math.Round(f * 1000))).UTC(), nil // written in milliseconds
	}
	return time.Time{}, nil
}

// escape escapes a label value as the text exposition format requires.
func escape(s string) string { return escaper.Replace(s) }

var escaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// spool holds the samples of one metric family until they are appended to the textfile.
type spool interface {
	io.Writer
	// appendTo writes what was written to w.
	appendTo(w io.Writer) error
	// discard frees the spool.
	discard()
}

// memSpool is a spool in memory, for Render.
type memSpool struct{ bytes.Buffer }

func (m *memSpool) appendTo(w io.Writer) error { _, err := m.WriteTo(w); return err }
func (m *memSpool) discard()                   {}

// fileSpool is a spool in a temporary file, for WriteFrom.
type fileSpool struct {
	f *os.File
	w *bufio.Writer
}

func (s *fileSpool) Write(b []byte) (int, error) { return s.w.Write(b) }

func (s *fileSpool) appendTo(w io.Writer) error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(w, s.f)
	return err
}

func (s *fileSpool) discard() {
	s.f.Close()
	os.Remove(s.f.Name())
}

// writer writes samples, each with the run's labels first.
type writer struct {
	w      io.Writer
	labels string // vantage="...", and shard="..." for a shard
	buf    []byte
}

func (w *writer) header(name, help string) {
	fmt.Fprintf(w.w, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
}

// sample writes one series to out; labels are name, value pairs after the run's.
func (w *writer) sample(out io.Writer, name string, v float64, labels ...string) {
	b := append(w.buf[:0], name...)
	b = append(b, '{')
	b = append(b, w.labels...)
	for i := 0; i < len(labels); i += 2 {
		b = append(b, ',')
		b = append(b, labels[i]...)
		b = append(b, `="`...)
		b = append(b, escape(labels[i+1])...)
		b = append(b, '"')
	}
	b = append(b, "} "...)
	b = strconv.AppendFloat(b, v, 'f', -1, 64)
	b = append(b, '\n')
	out.Write(b) // errors are sticky in the buffered writers, seen when flushed
	w.buf = b
}

func seconds(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1000
}

// Render returns the textfile for res. Partners are listed in results order;
// a partner name that repeats is listed once, as Prometheus rejects duplicate series.
func Render(res *audit.Results, o Options) []byte {
	var b bytes.Buffer
	all := func(yield func(*audit.Result) bool) {
		for i := range res.Partners {
			if !yield(&res.Partners[i]) {
				return
			}
		}
	}
	render(&b, res, all, o, func() (spool, error) { return &memSpool{}, nil }) // memory never fails
	return b.Bytes()
}

// family is a metric family of the partners, its name and help.
type family struct{ name, help string }

// The families written per partner, in the textfile's order.
var (
	famVerdict     = family{"mxaudit_partner_verdict", "Primary verdict of each partner in the last run: 1 for the verdict it has."}
	famFailing     = family{"mxaudit_partner_failing", "1 when the partner's verdict is at severity error or critical."}
	famExpiry      = family{"mxaudit_partner_leaf_expiry_days", "Whole days from the run's start until the partner's leaf certificate expires."}
	famNotAfter    = family{"mxaudit_partner_leaf_not_after_timestamp_seconds", "NotAfter of the partner's leaf certificate."}
	famTarget      = family{"mxaudit_target_verdict", "Verdict of each target (MX host, address, port) of each partner in the last run: 1 for the verdict it has."}
	famTgtExpiry   = family{"mxaudit_target_leaf_expiry_days", "Whole days from the run's start until the target's leaf certificate expires."}
	famTgtNotAfter = family{"mxaudit_target_leaf_not_after_timestamp_seconds", "NotAfter of the target's leaf certificate."}
	partnerFams    = []family{famVerdict, famFailing, famExpiry, famNotAfter, famTarget, famTgtExpiry, famTgtNotAfter}
)

// render writes the textfile of head and partners to out, ranging partners
// once: the first family goes to out directly, the others to spools
// appended after it.
func render(out io.Writer, head *audit.Results, partners iter.Seq[*audit.Result], o Options, newSpool func() (spool, error)) error {
	w := &writer{w: out, labels: `vantage="` + escape(cmp.Or(head.Vantage, reports.DefaultVantage)) + `"`}
	if head.Shard != "" {
		w.labels += `,shard="` + escape(head.Shard) + `"`
	}
	spools := make([]spool, len(partnerFams))
	defer func() {
		for _, s := range spools[1:] {
			if s != nil {
				s.discard()
			}
		}
	}()
	for i := 1; i < len(spools); i++ {
		s, err := newSpool()
		if err != nil {
			return err
		}
		spools[i] = s
	}
	spools[0] = nopSpool{out}
	w.header(famVerdict.name, famVerdict.help)

	seed1, seed2 := maphash.MakeSeed(), maphash.MakeSeed()
	seen := map[[2]uint64]struct{}{} // 128 bits of each name: a false duplicate is beyond belief
	count := map[audit.Verdict]int{}
	for r := range partners {
		key := [2]uint64{maphash.String(seed1, r.Name), maphash.String(seed2, r.Name)}
		if _, dup := seen[key]; dup {
			continue
		}
		seen[key] = struct{}{}
		count[r.Verdict]++
		w.partner(spools, head.Started, r)
	}
	for i, s := range spools[1:] {
		w.header(partnerFams[i+1].name, partnerFams[i+1].help)
		if err := s.appendTo(out); err != nil {
			return err
		}
	}

	w.header("mxaudit_partners", "Partners per primary verdict.")
	for _, v := range audit.Order {
		w.sample(out, "mxaudit_partners", float64(count[v]), "verdict", string(v))
	}
	w.header("mxaudit_private_root_expiry_days", "Whole days from the run's start until the imported private root expires.")
	for _, pr := range head.PrivateRoots {
		w.sample(out, "mxaudit_private_root_expiry_days", float64(audit.DaysLeft(pr.NotAfter, head.Started)), "file", pr.File, "subject", pr.Subject)
	}
	w.header("mxaudit_run_start_timestamp_seconds", "Start of the last run.")
	w.sample(out, "mxaudit_run_start_timestamp_seconds", seconds(head.Started))
	w.header("mxaudit_run_duration_seconds", "Duration of the last run.")
	w.sample(out, "mxaudit_run_duration_seconds", head.Finished.Sub(head.Started).Seconds())
	w.header("mxaudit_run_incomplete", "1 when the last run was interrupted before every partner was probed.")
	incomplete := 0.0
	if head.Incomplete {
		incomplete = 1
	}
	w.sample(out, "mxaudit_run_incomplete", incomplete)
	last := o.LastSuccess
	if !head.Incomplete {
		last = head.Finished
	}
	if !last.IsZero() {
		w.header(LastSuccessMetric, "End of the last run that probed every partner.")
		w.sample(out, LastSuccessMetric, seconds(last))
	}
	return nil
}

// nopSpool is the first family, written straight to the textfile.
type nopSpool struct{ io.Writer }

func (nopSpool) appendTo(io.Writer) error { return nil }
func (nopSpool) discard()                 {}

// partner writes the samples of r, one family to each spool.
func (w *writer) partner(spools []spool, started time.Time, r *audit.Result) {
	w.sample(spools[0], famVerdict.name, 1, "partner", r.Name, "host", r.Host, "verdict", string(r.Verdict),
		"severity", string(r.VerdictSeverity(r.Verdict)))
	failing := 0.0
	if r.VerdictSeverity(r.Verdict).Level() >= audit.Error.Level() {
		failing = 1
	}
	w.sample(spools[1], famFailing.name, failing, "partner", r.Name)
	if l := r.Leaf(); l != nil {
		w.sample(spools[2], famExpiry.name, float64(audit.DaysLeft(l.NotAfter, started)), "partner", r.Name, "host", r.Host)
		w.sample(spools[3], famNotAfter.name, seconds(l.NotAfter), "partner", r.Name, "host", r.Host)
	}
	targets := r.Targets
	if len(targets) == 0 { // a schema-1 result: the partner's row is its one target
		targets = []audit.TargetResult{audit.NewTarget(r)}
	}
	for k := range targets {
		t := &targets[k]
		if sameTarget(targets[:k], t) {
			continue // the same target from two inventory rows: one series
		}
		port := strconv.Itoa(t.Port)
		w.sample(spools[4], famTarget.name, 1, "partner", r.Name, "mx", t.MX, "address", t.Address, "port", port,
			"verdict", string(t.Verdict), "severity", string(t.Verdict.SeverityUnder(r.Enforced, t.Root.Store)))
		if l := t.Leaf(); l != nil {
			w.sample(spools[5], famTgtExpiry.name, float64(audit.DaysLeft(l.NotAfter, started)), "partner", r.Name, "mx", t.MX, "address", t.Address, "port", port)
			w.sample(spools[6], famTgtNotAfter.name, seconds(l.NotAfter), "partner", r.Name, "mx", t.MX, "address", t.Address, "port", port)
		}
	}
}

// sameTarget reports whether a target of ts has t's MX host, address and port.
func sameTarget(ts []audit.TargetResult, t *audit.TargetResult) bool {
	for i := range ts {
		if ts[i].MX == t.MX && ts[i].Address == t.Address && ts[i].Port == t.Port {
			return true
		}
	}
	return false
}
