package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"time"
)

// MaxPartnerSize caps the JSON of one partner of a results.json read as a stream.
const MaxPartnerSize = 64 << 20

// MaxHeadSize caps the JSON of every top-level field but the partners, together.
const MaxHeadSize = 1 << 30

// partnerCap and headCap are MaxPartnerSize and MaxHeadSize; tests lower them.
var (
	partnerCap int64 = MaxPartnerSize
	headCap    int64 = MaxHeadSize
)

// ResultsFile is a results.json read as a stream: its head (every field
// but the partners) held in memory, its partners read from the file one at
// a time on every pass.
type ResultsFile struct {
	Path string
	// Head is the run without its partners (Partners is nil), upgraded to
	// SchemaVersion as ReadResults upgrades a whole run.
	Head *Results
	// Count is the number of partners the file holds.
	Count int

	schema  int   // as the file says, before upgrading
	at      int64 // byte offset of the partners array ('['), -1 when absent or null
	size    int64
	modTime time.Time
	err     error // of the last pass of Partners
}

// OpenResults reads the head of the results.json at path in one pass over
// the file, checking each partner's JSON without keeping it. The partners
// may come before or after the other fields (WriteResultsStream writes
// them after "inventory", older versions wherever encoding/json put them).
func OpenResults(path string) (*ResultsFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, st.Mode().Type())
	}
	rf := &ResultsFile{Path: path, at: -1, size: st.Size(), modTime: st.ModTime()}
	lr := &capReader{r: f}
	dec := json.NewDecoder(lr)
	if err := expectDelim(dec, '{'); err != nil {
		return nil, rf.syntax(dec, lr, "", err)
	}
	var head bytes.Buffer
	head.WriteByte('{')
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, rf.syntax(dec, lr, "", err)
		}
		key, _ := tok.(string)
		if key == "partners" {
			if err := rf.skipPartners(dec, lr); err != nil {
				return nil, err
			}
			continue
		}
		lr.limit(dec.InputOffset(), headCap-int64(head.Len()))
		var raw json.RawMessage
		err = dec.Decode(&raw)
		lr.max = 0
		if err == nil && int64(head.Len()+len(raw)) > headCap {
			err = errOverCap
		}
		if err != nil {
			if errors.Is(err, errOverCap) {
				return nil, fmt.Errorf("%s: the fields other than partners are over %d bytes", path, headCap)
			}
			return nil, rf.syntax(dec, lr, fmt.Sprintf("field %q ", key), err)
		}
		if head.Len() > 1 {
			head.WriteByte(',')
		}
		kb, _ := json.Marshal(key)
		head.Write(kb)
		head.WriteByte(':')
		head.Write(raw)
	}
	if _, err := dec.Token(); err != nil {
		return nil, rf.syntax(dec, lr, "", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: (byte %d): data after the document", path, dec.InputOffset())
	}
	head.WriteByte('}')
	var r Results
	if err := json.Unmarshal(head.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rf.schema = r.Schema
	switch r.Schema {
	case 1:
		r.Schema = SchemaVersion
	case SchemaVersion:
	default:
		return nil, fmt.Errorf("%s: schema %d, this mxaudit reads schemas 1 and %d", path, r.Schema, SchemaVersion)
	}
	r.Partners = nil
	rf.Head = &r
	return rf, nil
}

// skipPartners checks the partners array (or null) dec is at, one bounded partner at a time, and counts them.
func (rf *ResultsFile) skipPartners(dec *json.Decoder, lr *capReader) error {
	rf.Count, rf.at = 0, -1
	tok, err := dec.Token()
	if err != nil {
		return rf.syntax(dec, lr, "partners ", err)
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("%s: partners (byte %d): not an array", rf.Path, dec.InputOffset())
	}
	rf.at = dec.InputOffset() - 1
	for dec.More() {
		if err := rf.next(dec, lr, &struct{}{}); err != nil {
			return err
		}
		rf.Count++
	}
	_, err = dec.Token()
	return rf.syntax(dec, lr, "partners ", err)
}

// next decodes the partner dec is at into v, refusing one over partnerCap.
func (rf *ResultsFile) next(dec *json.Decoder, lr *capReader, v any) error {
	start := dec.InputOffset()
	lr.limit(start, partnerCap)
	err := dec.Decode(v)
	lr.max = 0
	if errors.Is(err, errOverCap) || err == nil && dec.InputOffset()-start > partnerCap {
		return fmt.Errorf("%s: partner %d (from byte %d): over %d bytes", rf.Path, rf.Count, lr.base+start, partnerCap)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		// The decoder's own offsets are relative to what it buffered: name where the partner starts.
		return fmt.Errorf("%s: partner %d (from byte %d): %w", rf.Path, rf.Count, lr.base+start, err)
	}
	return nil
}

// syntax names the file, what was being read and the byte offset in an error of dec; nil stays nil.
func (rf *ResultsFile) syntax(dec *json.Decoder, lr *capReader, what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%s: %s(byte %d): %w", rf.Path, what, lr.base+dec.InputOffset(), err)
}

// Each calls fn with each partner of the file in order, reading the file
// again from disk on every call; the *Result is fn's only until it
// returns. Schema 1 partners are upgraded as ReadResults upgrades them.
// An error of fn ends the pass and is returned as it is.
func (rf *ResultsFile) Each(fn func(*Result) error) error {
	if rf.at < 0 {
		return nil
	}
	f, err := os.Open(rf.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != rf.size || !st.ModTime().Equal(rf.modTime) {
		return fmt.Errorf("%s: changed since it was opened", rf.Path)
	}
	if _, err := f.Seek(rf.at, io.SeekStart); err != nil {
		return err
	}
	lr := &capReader{r: f, base: rf.at}
	dec := json.NewDecoder(lr)
	pass := &ResultsFile{Path: rf.Path, at: rf.at}
	if err := expectDelim(dec, '['); err != nil {
		return pass.syntax(dec, lr, "partners ", err)
	}
	for dec.More() {
		var r Result
		if err := pass.next(dec, lr, &r); err != nil {
			return err
		}
		if rf.schema == 1 {
			r.upgradeV1()
		}
		if err := fn(&r); err != nil {
			return err
		}
		pass.Count++
	}
	if pass.Count != rf.Count {
		return fmt.Errorf("%s: %d partners, %d when it was opened", rf.Path, pass.Count, rf.Count)
	}
	return nil
}

// Partners gives the partners of the file in order, reading it again on
// every range; a *Result yielded is valid until the next. An error ends
// the range early: Err says what it was.
func (rf *ResultsFile) Partners() iter.Seq[*Result] {
	seq, errf := Each(rf.Each).Seq()
	return func(yield func(*Result) bool) {
		seq(yield)
		rf.err = errf()
	}
}

// Err returns the error that ended the last range of Partners, or nil.
func (rf *ResultsFile) Err() error { return rf.err }

// ReadResults reads a results.json file whole.
func ReadResults(path string) (*Results, error) {
	rf, err := OpenResults(path)
	if err != nil {
		return nil, err
	}
	r := *rf.Head
	r.Partners = make([]Result, 0, rf.Count)
	if rf.at < 0 {
		r.Partners = nil
	}
	err = rf.Each(func(p *Result) error {
		r.Partners = append(r.Partners, *p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

var errOverCap = errors.New("over the cap")

// capReader reads from r, failing once more than max bytes were read past
// the offset given to limit; reads are small so that the decoder never
// reads far ahead of the value it decodes.
type capReader struct {
	r    io.Reader
	base int64 // file offset of the first byte the decoder reads
	n    int64 // bytes read so far
	max  int64 // n may not pass it; 0 for no limit
}

const capChunk = 64 << 10

// limit allows the value starting at the decoder offset start up to n bytes (and the read-ahead of one chunk).
func (c *capReader) limit(start, n int64) { c.max = start + n + capChunk }

func (c *capReader) Read(p []byte) (int, error) {
	if c.max > 0 && c.n >= c.max {
		return 0, errOverCap
	}
	if len(p) > capChunk {
		p = p[:capChunk]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// expectDelim reads the next token of dec and checks it is d.
func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("want %q, found %v", d, tok)
	}
	return nil
}

// upgradeV1 turns a schema-1 result into the current model: a result that
// reached an address gets its one target (the host it audited), so readers
// of Targets need no second path. Rows of one partner name stay separate
// results, as they were.
func (r *Result) upgradeV1() {
	// A result without an address (DNSError, not probed) had no target.
	if len(r.Targets) == 0 && r.Host != "" && (r.Address != "" || r.SMTP.RemoteAddr != "") {
		r.Targets = []TargetResult{NewTarget(r)}
		if r.Targets[0].Failing() {
			r.TargetsFailing = 1
		}
	}
}
