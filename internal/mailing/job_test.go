package mailing

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMail runs the fixture as `mxaudit mail` does: a dry run that records
// nothing, a delivery that records every message, and a re-run that sends
// nothing twice; each prints one line per message and per partner left out.
func TestMail(t *testing.T) {
	res := fixture()
	dir := t.TempDir()
	logPath := LogBeside(filepath.Join(dir, "results.json"))
	if logPath != filepath.Join(dir, LogFile) {
		t.Fatalf("LogBeside = %s", logPath)
	}
	compose := Options{Sender: "audit@corp.example", Owner: "owner@corp.example", Date: started}
	mail := func(name string, dry bool) (Totals, string, *Dir) {
		t.Helper()
		log, err := OpenLog(logPath)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		tr := &Dir{Path: filepath.Join(dir, name)}
		n, err := Mail(context.Background(), res, tr, Job{Compose: compose, DryRun: dry, Out: &out,
			Deliver: DeliverOptions{Log: log, Rate: 6000, Now: func() time.Time { return started.Add(time.Hour) }}})
		if err != nil {
			t.Fatal(err)
		}
		return n, out.String(), tr
	}
	messages := len(composeFixture(t, res).Messages)
	tests := []struct {
		name  string
		dry   bool
		want  Totals
		lines []string // regular expressions, each matching one line
	}{
		{"dry run", true, Totals{Sent: messages, Skipped: 1}, []string{
			`^skipped       Nocontact AG: .+$`,
			`^written       Müller GmbH <it@mueller.example> \(failing\) <.+>$`,
			`^written       owner <owner@corp.example> \(full report\) <.+>$`,
		}},
		{"delivery", false, Totals{Sent: messages, Skipped: 1}, []string{
			`^sent          Quiet Corp <tls@quiet.example> \(ok\) <.+>$`,
		}},
		{"again", false, Totals{AlreadySent: messages, Skipped: 1}, []string{
			`^already sent  Quiet Corp <tls@quiet.example> on 2026-03-16 08:30 <.+> \(--resend to send again\)$`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, out, tr := mail(strings.ReplaceAll(tt.name, " ", "-"), tt.dry)
			if n != tt.want {
				t.Errorf("totals %+v, want %+v\n%s", n, tt.want, out)
			}
			if lines := strings.Count(out, "\n"); lines != messages+1 {
				t.Errorf("%d lines, want %d\n%s", lines, messages+1, out)
			}
			if len(tr.Written) != tt.want.Sent {
				t.Errorf("%d files written, want %d", len(tr.Written), tt.want.Sent)
			}
			for _, re := range tt.lines {
				if !regexp.MustCompile("(?m)" + re).MatchString(out) {
					t.Errorf("no line matches %s\n%s", re, out)
				}
			}
		})
	}
}

// TestMailComposeError returns Compose's error before anything is sent.
func TestMailComposeError(t *testing.T) {
	var out bytes.Buffer
	tr := &Dir{Path: t.TempDir()}
	_, err := Mail(context.Background(), fixture(), tr, Job{Compose: Options{Sender: "audit@corp.example", Partners: []string{"Nobody"}}, Out: &out})
	if _, ok := err.(*UnknownPartnerError); !ok || out.Len() != 0 || len(tr.Written) != 0 {
		t.Errorf("err %v, output %q, %d written", err, out.String(), len(tr.Written))
	}
}
