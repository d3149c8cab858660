package mailing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// LogFile is the default name of the send log, kept beside results.json or the history database.
const LogFile = "mail-log.json"

// LogEntry records one delivered message.
type LogEntry struct {
	Run       string    `json:"run"`               // RunKey of the audit run
	RunID     int64     `json:"run_id,omitempty"`  // history database run id, when mailed with --run
	Partner   string    `json:"partner,omitempty"` // "" for the owner's message
	Hosts     []string  `json:"hosts,omitempty"`   // the partner's rows the message covered, as host:port
	Owner     bool      `json:"owner,omitempty"`
	To        string    `json:"to"`
	MessageID string    `json:"message_id"`
	Subject   string    `json:"subject"`
	Sent      time.Time `json:"sent"`
}

// SendLog is the file that records which messages of which run were
// delivered, so that mailing the same run again sends nothing twice: one
// JSON object a line, appended as each message is delivered (a send log
// of older versions, one JSON array, is read too, and rewritten as lines
// on the first delivery recorded).
type SendLog struct {
	path    string
	Entries []LogEntry
	index   map[logKey][]int // Entries by run, partner and address
	indexed int              // how many of Entries are in index
	legacy  bool             // the file is a JSON array: rewrite it as lines before appending
	tail    int64            // where a last line cut short by a crash starts, -1 for none
}

// logKey is what Find matches a message by, besides the rows it covers.
type logKey struct {
	run, partner, to string
	owner            bool
}

func keyOfEntry(run string, owner bool, partner, to string) logKey {
	return logKey{run: run, partner: partner, to: strings.ToLower(to), owner: owner}
}

// MaxLogSize caps how much of a send log is read: some 200,000 entries.
const MaxLogSize = 64 << 20

// logCap is MaxLogSize; tests lower it.
var logCap int64 = MaxLogSize

// OpenLog reads the send log at path; a missing file is an empty log. Only
// a regular file is read (a FIFO or a link to a device is refused before it
// is opened), and at most MaxLogSize bytes of it. A last line cut short (a
// crash while it was written) is left out, and cut off at the next Add.
func OpenLog(path string) (*SendLog, error) {
	l := &SendLog{path: path, tail: -1}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("send log: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("send log %s: not a regular file (%s)", path, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("send log: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, logCap+1))
	if err != nil {
		return nil, fmt.Errorf("send log %s: %w", path, err)
	}
	if int64(len(b)) > logCap {
		return nil, fmt.Errorf("send log %s: larger than %d bytes", path, logCap)
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		l.legacy = true
		if err := json.Unmarshal(b, &l.Entries); err != nil {
			return nil, fmt.Errorf("send log %s: %w", path, err)
		}
		return l, nil
	}
	return l, l.readLines(b)
}

// readLines reads a send log of one JSON object a line.
func (l *SendLog) readLines(b []byte) error {
	at := 0
	for n := 1; at < len(b); n++ {
		end := bytes.IndexByte(b[at:], '\n')
		line := b[at:]
		if end >= 0 {
			line = b[at : at+end]
		}
		if len(bytes.TrimSpace(line)) > 0 {
			var e LogEntry
			if err := json.Unmarshal(line, &e); err != nil {
				if end < 0 { // cut short by a crash: the message it was to record was not sent for sure
					l.tail = int64(at)
					return nil
				}
				return fmt.Errorf("send log %s: line %d: %w", l.path, n, err)
			}
			l.Entries = append(l.Entries, e)
		}
		if end < 0 {
			break
		}
		at += end + 1
	}
	return nil
}

// Path returns the file the log is kept in.
func (l *SendLog) Path() string { return l.path }

// Find returns the entry for m in run, if it was delivered: a message of
// the same run to the same partner name and address that covered every row
// m covers. One message goes to each partner name and address per run, so
// a re-run neither repeats it nor drops a row of a partner listed with
// several hosts. (Entries without hosts, from older versions, match by name.)
func (l *SendLog) Find(run string, m *Message) (LogEntry, bool) {
	if l.index == nil {
		l.index = map[logKey][]int{}
	}
	for ; l.indexed < len(l.Entries); l.indexed++ {
		e := &l.Entries[l.indexed]
		k := keyOfEntry(e.Run, e.Owner, e.Partner, e.To)
		l.index[k] = append(l.index[k], l.indexed)
	}
	for _, i := range l.index[keyOfEntry(run, m.Owner, m.Partner, m.To)] {
		if e := l.Entries[i]; covers(e.Hosts, m.Hosts) {
			return e, true
		}
	}
	return LogEntry{}, false
}

// covers reports whether a logged message about hosts logged covered every one of hosts.
func covers(logged, hosts []string) bool {
	if len(logged) == 0 {
		return true
	}
	for _, h := range hosts {
		if !slices.ContainsFunc(logged, func(x string) bool { return strings.EqualFold(x, h) }) {
			return false
		}
	}
	return true
}

// Add records e: one line appended to the file and synced, so a crash
// loses at most the message being sent.
func (l *SendLog) Add(e LogEntry) error {
	if l.legacy {
		if err := l.rewrite(); err != nil {
			return fmt.Errorf("send log: %w", err)
		}
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := l.append(append(b, '\n')); err != nil {
		return fmt.Errorf("send log: %w", err)
	}
	l.Entries = append(l.Entries, e)
	return nil
}

// rewrite turns a send log of older versions (one JSON array) into lines, atomically.
func (l *SendLog) rewrite() error {
	err := audit.WriteAtomic(l.path, func(w io.Writer) error {
		for _, e := range l.Entries {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		l.legacy = false
	}
	return err
}

// append writes line at the end of the file (after cutting off a last line a crash left unfinished) and syncs it.
func (l *SendLog) append(line []byte) error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if l.tail >= 0 {
		if err := f.Truncate(l.tail); err != nil {
			f.Close()
			return err
		}
		l.tail = -1
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
