package mailing

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/mxaudit/mxaudit/audit"
)

// LogBeside returns the default send log of the run read from file (a
// results.json or the history database): LogFile in the same folder.
func LogBeside(file string) string { return filepath.Join(filepath.Dir(file), LogFile) }

// Job is one mailing of an audit run: what to compose, how to deliver it,
// and where to say what happened.
type Job struct {
	Compose Options
	// Deliver says how to deliver; Mail sets its Progress, and for a dry run
	// its NoRecord and Rate.
	Deliver DeliverOptions
	DryRun  bool      // the transport writes files: nothing is recorded in the send log, no rate limit
	Out     io.Writer // one line per message and per partner left out
}

// Totals count what Mail did.
type Totals struct {
	Sent        int // delivered (written, in a dry run)
	AlreadySent int // left out: the send log lists them
	Failed      int // not delivered, and partners whose contact is not an address
	Skipped     int // partners without a contact or not probed
}

// Mail composes res's messages as j says and delivers them: MailFrom with
// the run held whole.
func Mail(ctx context.Context, res *audit.Results, t Transport, j Job) (Totals, error) {
	return MailFrom(ctx, res, audit.EachOf(res), t, j)
}

// MailFrom composes the messages of the run given as head and its partners
// (read in passes, see ComposeFrom) one partner at a time, as j says,
// prints each partner left out, delivers each partner's messages through t
// before the next partner's are composed, printing one line for each, and
// counts them. An error is ComposeFrom's: returned before anything was
// sent when the options are wrong (an unknown partner, a bad address);
// later (a template, a report, reading the partners), after the messages
// of the partners before.
func MailFrom(ctx context.Context, head *audit.Results, partners audit.Each, t Transport, j Job) (Totals, error) {
	var n Totals
	opts := j.Deliver
	opts.Progress = func(oc Outcome) { printOutcome(j.Out, oc, j.DryRun) }
	if j.DryRun {
		opts.NoRecord, opts.Rate = true, 0
	}
	run := j.Compose.Run
	if run == "" {
		run = RunKey(head)
	}
	d := NewDeliverer(ctx, t, run, opts)
	err := ComposeFrom(head, partners, j.Compose, func(b Batch) error {
		if s := b.Skip; s != nil {
			word := "skipped"
			if s.Failed {
				word = "FAILED"
				n.Failed++
			} else {
				n.Skipped++
			}
			fmt.Fprintf(j.Out, "%-13s %s: %s\n", word, s.Partner, s.Reason)
		}
		for _, m := range b.Messages {
			switch d.Send(m).Status {
			case Sent:
				n.Sent++
			case AlreadySent:
				n.AlreadySent++
			default:
				n.Failed++
			}
		}
		return nil
	})
	return n, err
}

// printOutcome writes the line of one message: sent (written, in a dry
// run), already sent, or FAILED with the reason.
func printOutcome(w io.Writer, oc Outcome, dry bool) {
	m := oc.Message
	what := string(m.Situation)
	if m.Owner {
		what = "full report"
	}
	switch oc.Status {
	case Sent:
		verb := "sent"
		if dry {
			verb = "written"
		}
		fmt.Fprintf(w, "%-13s %s (%s) <%s>\n", verb, m.Who(), what, m.ID)
	case AlreadySent:
		fmt.Fprintf(w, "%-13s %s on %s <%s> (--resend to send again)\n", "already sent", m.Who(), oc.Previous.Sent.Format("2006-01-02 15:04"), oc.Previous.MessageID)
	default:
		tries := ""
		if oc.Attempts > 1 {
			tries = fmt.Sprintf(" (after %d attempts)", oc.Attempts)
		}
		fmt.Fprintf(w, "%-13s %s (%s): %v%s\n", "FAILED", m.Who(), what, oc.Err, tries)
	}
}
