// Package promfile writes a scan's results as a Prometheus node_exporter
// textfile (the textfile collector reads *.prom files from a directory),
// so a cron-driven mxaudit can be alerted on.
//
// Series, all gauges:
//
//	mxaudit_partner_verdict{partner,host,verdict,severity}  1 for each partner's primary verdict
//	mxaudit_partner_failing{partner}                        1 when that verdict is at severity error or critical
//	mxaudit_partner_leaf_expiry_days{partner,host}          whole days until the leaf certificate expires (negative once expired)
//	mxaudit_partner_leaf_not_after_timestamp_seconds{partner,host}
//	mxaudit_partners{verdict}                               partners per verdict, every verdict listed
//	mxaudit_private_root_expiry_days{file,subject}          whole days until each imported private root expires
//	mxaudit_run_start_timestamp_seconds, mxaudit_run_duration_seconds, mxaudit_run_incomplete
//	mxaudit_last_success_timestamp_seconds                  end of the last run that probed every partner
//
// Days are counted from the run's start (Results.Started), as in the reports.
package promfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
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
		v, ok := strings.CutPrefix(sc.Text(), LastSuccessMetric+" ")
		if !ok {
			continue
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
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

type writer struct {
	b bytes.Buffer
}

func (w *writer) header(name, help string) {
	fmt.Fprintf(&w.b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
}

// sample writes one series; labels are name, value pairs.
func (w *writer) sample(name string, v float64, labels ...string) {
	w.b.WriteString(name)
	if len(labels) > 0 {
		w.b.WriteByte('{')
		for i := 0; i < len(labels); i += 2 {
			if i > 0 {
				w.b.WriteByte(',')
			}
			fmt.Fprintf(&w.b, `%s="%s"`, labels[i], escape(labels[i+1]))
		}
		w.b.WriteByte('}')
	}
	w.b.WriteByte(' ')
	w.b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
	w.b.WriteByte('\n')
}

func seconds(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1000
}

// Render returns the textfile for res. Partners are listed in results order;
// a partner name that repeats is listed once, as Prometheus rejects duplicate series.
func Render(res *audit.Results, o Options) []byte {
	var w writer
	var parts []*audit.Result
	seen := map[string]bool{}
	for i := range res.Partners {
		r := &res.Partners[i]
		if !seen[r.Name] {
			seen[r.Name] = true
			parts = append(parts, r)
		}
	}

	w.header("mxaudit_partner_verdict", "Primary verdict of each partner in the last run: 1 for the verdict it has.")
	for _, r := range parts {
		w.sample("mxaudit_partner_verdict", 1, "partner", r.Name, "host", r.Host, "verdict", string(r.Verdict),
			"severity", string(r.VerdictSeverity(r.Verdict)))
	}
	w.header("mxaudit_partner_failing", "1 when the partner's verdict is at severity error or critical.")
	for _, r := range parts {
		v := 0.0
		if r.VerdictSeverity(r.Verdict).Level() >= audit.Error.Level() {
			v = 1
		}
		w.sample("mxaudit_partner_failing", v, "partner", r.Name)
	}
	w.header("mxaudit_partner_leaf_expiry_days", "Whole days from the run's start until the partner's leaf certificate expires.")
	for _, r := range parts {
		if l := r.Leaf(); l != nil {
			w.sample("mxaudit_partner_leaf_expiry_days", float64(audit.DaysLeft(l.NotAfter, res.Started)), "partner", r.Name, "host", r.Host)
		}
	}
	w.header("mxaudit_partner_leaf_not_after_timestamp_seconds", "NotAfter of the partner's leaf certificate.")
	for _, r := range parts {
		if l := r.Leaf(); l != nil {
			w.sample("mxaudit_partner_leaf_not_after_timestamp_seconds", seconds(l.NotAfter), "partner", r.Name, "host", r.Host)
		}
	}
	w.header("mxaudit_partners", "Partners per primary verdict.")
	count := map[audit.Verdict]int{}
	for _, r := range parts {
		count[r.Verdict]++
	}
	for _, v := range audit.Order {
		w.sample("mxaudit_partners", float64(count[v]), "verdict", string(v))
	}
	w.header("mxaudit_private_root_expiry_days", "Whole days from the run's start until the imported private root expires.")
	for _, pr := range res.PrivateRoots {
		w.sample("mxaudit_private_root_expiry_days", float64(audit.DaysLeft(pr.NotAfter, res.Started)), "file", pr.File, "subject", pr.Subject)
	}
	w.header("mxaudit_run_start_timestamp_seconds", "Start of the last run.")
	w.sample("mxaudit_run_start_timestamp_seconds", seconds(res.Started))
	w.header("mxaudit_run_duration_seconds", "Duration of the last run.")
	w.sample("mxaudit_run_duration_seconds", res.Finished.Sub(res.Started).Seconds())
	w.header("mxaudit_run_incomplete", "1 when the last run was interrupted before every partner was probed.")
	incomplete := 0.0
	if res.Incomplete {
		incomplete = 1
	}
	w.sample("mxaudit_run_incomplete", incomplete)
	last := o.LastSuccess
	if !res.Incomplete {
		last = res.Finished
	}
	if !last.IsZero() {
		w.header(LastSuccessMetric, "End of the last run that probed every partner.")
		w.sample(LastSuccessMetric, seconds(last))
	}
	return w.b.Bytes()
}
