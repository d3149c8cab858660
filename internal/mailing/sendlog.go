package mailing

import (
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

// SendLog is the JSON file that records which messages of which run were
// delivered, so that mailing the same run again sends nothing twice.
type SendLog struct {
	path    string
	Entries []LogEntry
}

// MaxLogSize caps how much of a send log is read: some 200,000 entries.
const MaxLogSize = 64 << 20

// logCap is MaxLogSize; tests lower it.
var logCap int64 = MaxLogSize

// OpenLog reads the send log at path; a missing file is an empty log. Only
// a regular file is read (a FIFO or a link to a device is refused before it
// is opened), and at most MaxLogSize bytes of it.
func OpenLog(path string) (*SendLog, error) {
	l := &SendLog{path: path}
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
	if err := json.Unmarshal(b, &l.Entries); err != nil {
		return nil, fmt.Errorf("send log %s: %w", path, err)
	}
	return l, nil
}

// Path returns the file the log is kept in.
func (l *SendLog) Path() string { return l.path }

// Find returns the entry for m in run, if it was delivered: a message of
// the same run to the same partner name and address that covered every row
// m covers. One message goes to each partner name and address per run, so
// a re-run neither repeats it nor drops a row of a partner listed with
// several hosts. (Entries without hosts, from older versions, match by name.)
func (l *SendLog) Find(run string, m *Message) (LogEntry, bool) {
	for _, e := range l.Entries {
		if e.Run == run && e.Owner == m.Owner && e.Partner == m.Partner && strings.EqualFold(e.To, m.To) && covers(e.Hosts, m.Hosts) {
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

// Add appends e and rewrites the file atomically, so a crash loses at most the message being sent.
func (l *SendLog) Add(e LogEntry) error {
	l.Entries = append(l.Entries, e)
	b, err := json.MarshalIndent(l.Entries, "", "  ")
	if err != nil {
		return err
	}
	if err := audit.WriteFileAtomic(l.path, append(b, '\n')); err != nil {
		return fmt.Errorf("send log: %w", err)
	}
	return nil
}
