package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/mxaudit/mxaudit/audit"
)

// partnerJob is one per-partner PDF to render: its place in results order, its file name and its rows.
type partnerJob struct {
	n    int
	file string
	one  *audit.Results // partnerHead: the rows of one partner name and nothing about others
}

// partnerDone is a rendered partnerJob: the path written, or the error.
type partnerDone struct {
	n    int
	path string
	err  error
}

// writePartnerPDFs writes partners/<name>.pdf for each partner name,
// covering all its rows, and returns the paths in results order. Rows of a
// name are consecutive in schema-2 and later results: then the partners
// are read one at a time, each name's rows copied and handed to a render
// worker through a queue as long as the workers are many. Otherwise (an
// older results.json) the partners are held whole, as they were read.
// When ctx ends, no further PDF is started.
func writePartnerPDFs(ctx context.Context, dir string, head *audit.Results, partners iter.Seq[*audit.Result], opts Options) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(dir, DirPartnerPDFs), 0o755); err != nil {
		return nil, err
	}
	workers := runtime.GOMAXPROCS(0) // one PDF costs ~30 ms (mostly embedding the font): render on every core
	jobs := make(chan partnerJob, workers)
	var mu sync.Mutex
	var done []partnerDone
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				d := renderPartner(dir, j, opts)
				mu.Lock()
				done = append(done, d)
				mu.Unlock()
			}
		})
	}
	send := func(j partnerJob) bool {
		select {
		case jobs <- j:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var ferr error
	if consecutive(partners) {
		ferr = feedGrouped(head, partners, send)
	} else {
		feedHeld(heldCopy(head, partners), send)
	}
	close(jobs)
	wg.Wait()
	slices.SortFunc(done, func(a, b partnerDone) int { return a.n - b.n })
	var written []string
	errs := []error{ferr}
	for _, d := range done {
		if d.err != nil {
			errs = append(errs, d.err)
		} else {
			written = append(written, d.path)
		}
	}
	return written, errors.Join(errs...)
}

// renderPartner renders and writes the PDF of job j.
func renderPartner(dir string, j partnerJob, opts Options) partnerDone {
	name := filepath.Join(DirPartnerPDFs, j.file)
	var b bytes.Buffer
	if err := onePartnerPDF(&b, j.one, opts); err != nil {
		return partnerDone{n: j.n, err: fmt.Errorf("%s: %w", name, err)}
	}
	path := filepath.Join(dir, name)
	if err := audit.WriteFileAtomic(path, b.Bytes()); err != nil {
		return partnerDone{n: j.n, err: fmt.Errorf("%s: %w", name, err)}
	}
	return partnerDone{n: j.n, path: path}
}

// feedGrouped sends one job per run of consecutive rows of one partner
// name, the rows copied (a result yielded is valid only until the next),
// until send refuses one.
func feedGrouped(head *audit.Results, partners iter.Seq[*audit.Result], send func(partnerJob) bool) error {
	var names fileNames
	var rows []audit.Result
	n := 0
	flush := func() bool {
		if len(rows) == 0 {
			return true
		}
		name := rows[0].Name
		j := partnerJob{n: n, file: names.next(name), one: partnerHead(head, name, rows)}
		n, rows = n+1, nil
		return send(j)
	}
	for r := range partners {
		if len(rows) > 0 && rows[0].Name != r.Name && !flush() {
			return nil
		}
		c, err := cloneResult(r)
		if err != nil {
			return err
		}
		rows = append(rows, c)
	}
	flush()
	return nil
}

// feedHeld sends one job per partner name of res, held whole, until send refuses one.
func feedHeld(res *audit.Results, send func(partnerJob) bool) {
	names := PartnerFileNames(res)
	for n, i := range firstRows(res) {
		one, _ := partnerOnly(res, res.Partners[i].Name) // the name is there: no error
		if !send(partnerJob{n: n, file: names[i], one: one}) {
			return
		}
	}
}

// heldCopy returns head with its partners held: head itself when it holds
// them, else a copy with every partner copied from partners.
func heldCopy(head *audit.Results, partners iter.Seq[*audit.Result]) *audit.Results {
	if head.Partners != nil {
		return head
	}
	res := *head
	res.Partners = []audit.Result{}
	for r := range partners {
		c, err := cloneResult(r)
		if err != nil {
			c = *r
		}
		res.Partners = append(res.Partners, c)
	}
	return &res
}

// cloneResult returns a deep copy of r, through its JSON form (what a spill file holds).
func cloneResult(r *audit.Result) (audit.Result, error) {
	var c audit.Result
	b, err := json.Marshal(r)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return audit.Result{}, fmt.Errorf("partner %s: copy: %w", r.Name, err)
	}
	return c, nil
}

// consecutive reports whether the rows of each partner name in partners
// are consecutive, in one pass keeping an 8-byte hash of each name ended
// (a collision can only make it say no: the rows are then held).
func consecutive(partners iter.Seq[*audit.Result]) bool {
	ended := map[uint64]struct{}{}
	var cur string
	first := true
	for r := range partners {
		if !first && r.Name == cur {
			continue
		}
		if !first {
			ended[hashName(cur)] = struct{}{}
		}
		if _, seen := ended[hashName(r.Name)]; seen {
			return false
		}
		cur, first = r.Name, false
	}
	return true
}

func hashName(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// fileNames gives each partner name its PDF file name (PartnerFileNames'
// rule), keeping an 8-byte hash of each name given out, not the name.
type fileNames struct{ taken map[uint64]struct{} }

// next returns the file name of partner name, the first time it is asked for that name.
func (f *fileNames) next(partner string) string {
	if f.taken == nil {
		f.taken = map[uint64]struct{}{}
	}
	base := slug(partner)
	name := base + ".pdf"
	for n := 2; f.has(name); n++ {
		name = fmt.Sprintf("%s-%d.pdf", base, n)
	}
	f.taken[hashName(strings.ToLower(name))] = struct{}{}
	return name
}

func (f *fileNames) has(name string) bool {
	_, ok := f.taken[hashName(strings.ToLower(name))]
	return ok
}
