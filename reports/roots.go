package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// RootsLifecycle is the content of `mxaudit roots`: the imported private
// roots graded against Now under Thresholds (audit.Lifecycle; the zero
// value means the defaults), and every file that could not be read.
type RootsLifecycle struct {
	Now        time.Time           `json:"generated"`
	Dir        string              `json:"dir"`
	Thresholds audit.Thresholds    `json:"thresholds"`
	Roots      []audit.PrivateRoot `json:"private_roots"`
	Errors     []LoadError         `json:"errors"`
}

// thresholds returns rl.Thresholds, or the defaults when it is zero.
func (rl RootsLifecycle) thresholds() audit.Thresholds {
	if rl.Thresholds == (audit.Thresholds{}) {
		return audit.DefaultThresholds()
	}
	return rl.Thresholds
}

// LoadError names a file of the private roots folder that could not be read, and why.
type LoadError struct {
	File    string `json:"file"`
	Message string `json:"error"`
}

// WriteRootsJSON writes the lifecycle as indented JSON, roots sorted by expiry, without the DER.
func WriteRootsJSON(w io.Writer, rl RootsLifecycle) error {
	out := rl
	out.Now = rl.Now.UTC()
	out.Thresholds = rl.thresholds()
	out.Roots = sortedRoots(rl.Roots)
	for i := range out.Roots {
		out.Roots[i].DER = nil
		out.Roots[i].Status = audit.RootStatusOf(out.Roots[i], out.Thresholds)
	}
	if out.Roots == nil {
		out.Roots = []audit.PrivateRoot{}
	}
	if out.Errors == nil {
		out.Errors = []LoadError{}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("roots json: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteRootsPDF writes the private roots lifecycle table and the unreadable files as a PDF.
func WriteRootsPDF(w io.Writer, rl RootsLifecycle, opts Options) error {
	th := rl.thresholds()
	res := &audit.Results{Started: rl.Now, Finished: rl.Now, PrivateRoots: rl.Roots, Thresholds: &th}
	v, err := newView(res, opts)
	if err != nil {
		return err
	}
	d, err := newDoc(v, opts)
	if err != nil {
		return err
	}
	d.addPage()
	d.setFont("B", 18)
	d.text(d.left, d.top, d.width, 9, v.org, "L")
	d.setFont("", 10)
	d.color(colGrey)
	d.text(d.left, d.top+10, d.width, 5, fmt.Sprintf("%s · %s · graded on %s", rl.Dir, v.period, Stamp(rl.Now)), "L")
	d.p.SetTextColor(0, 0, 0)
	d.p.SetXY(d.left, d.top+18)
	if err := d.rootsTable(rl.Roots, false, rl.Errors); err != nil {
		return err
	}
	return d.finish(w)
}
