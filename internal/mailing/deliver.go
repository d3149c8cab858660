package mailing

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Status is what happened to one message.
type Status string

// The statuses of an Outcome.
const (
	Sent        Status = "sent"         // delivered to the server (or written, in a dry run)
	AlreadySent Status = "already sent" // the send log says so; not sent again
	Failed      Status = "failed"       // not delivered: Err says why
)

// Outcome is the result of delivering one message.
type Outcome struct {
	Message  *Message
	Status   Status
	Attempts int
	Previous LogEntry // the earlier delivery, for AlreadySent
	Err      error    // for Failed
}

// DeliverOptions tune Deliver.
type DeliverOptions struct {
	RunID      int64            // history run id, recorded in the log; 0 when mailed from a results.json
	Log        *SendLog         // skip what it lists; record what is delivered; nil for neither
	Resend     bool             // send again what the log lists
	NoRecord   bool             // do not record deliveries (a dry run)
	Retries    int              // attempts after a temporary failure, beyond the first
	Backoff    time.Duration    // wait before the first retry; doubles after each; 0 means 1 s
	MaxBackoff time.Duration    // cap of the wait; 0 means 5 min
	Rate       float64          // messages per minute; 0 means no limit
	Now        func() time.Time // clock of the log entries; nil means time.Now
	// Progress, when set, receives each outcome as soon as it is known.
	Progress func(Outcome)
}

// Deliver sends the plan's messages in order through t. A temporary failure
// (4xx, network) is retried with exponential backoff; a permanent one (5xx)
// fails that message only. A connection that cannot be set up (TLS, AUTH,
// or still failing after the retries) fails every remaining message with the
// same error. Cancelling ctx fails the messages not yet sent.
func Deliver(ctx context.Context, t Transport, plan *Plan, o DeliverOptions) []Outcome {
	if o.Backoff == 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var interval time.Duration
	if o.Rate > 0 {
		interval = time.Duration(float64(time.Minute) / o.Rate)
	}
	var last time.Time // start of the previous send
	var fatal error
	out := make([]Outcome, 0, len(plan.Messages))
	report := func(oc Outcome) {
		out = append(out, oc)
		if o.Progress != nil {
			o.Progress(oc)
		}
	}
	for _, m := range plan.Messages {
		if o.Log != nil && !o.Resend {
			if prev, ok := o.Log.Find(plan.Run, m); ok {
				report(Outcome{Message: m, Status: AlreadySent, Previous: prev})
				continue
			}
		}
		if fatal != nil {
			report(Outcome{Message: m, Status: Failed, Err: fmt.Errorf("not sent: %w", fatal)})
			continue
		}
		if err := ctx.Err(); err != nil {
			report(Outcome{Message: m, Status: Failed, Err: fmt.Errorf("not sent: %w", err)})
			continue
		}
		if interval > 0 && !last.IsZero() {
			if err := sleep(ctx, time.Until(last.Add(interval))); err != nil {
				report(Outcome{Message: m, Status: Failed, Err: fmt.Errorf("not sent: %w", err)})
				continue
			}
		}
		last = time.Now()
		oc := Outcome{Message: m}
		wait := o.Backoff
		for {
			oc.Attempts++
			err := t.Send(ctx, m)
			if err == nil {
				oc.Status = Sent
				break
			}
			var se *SendError
			if !errors.As(err, &se) {
				se = &SendError{Err: err}
			}
			if se.Temporary && oc.Attempts <= o.Retries && ctx.Err() == nil {
				if sleep(ctx, wait) == nil {
					wait = min(2*wait, o.MaxBackoff)
					continue
				}
			}
			oc.Status, oc.Err = Failed, err
			if se.Conn {
				fatal = err
			}
			break
		}
		if oc.Status == Sent && o.Log != nil && !o.NoRecord {
			if err := o.Log.Add(LogEntry{Run: plan.Run, RunID: o.RunID, Partner: m.Partner, Hosts: m.Hosts, Owner: m.Owner, To: m.To,
				MessageID: m.ID, Subject: m.Subject, Sent: o.Now().UTC()}); err != nil {
				// Delivered but not recorded: a re-run would send it again, so say so and stop.
				oc.Err = err
				fatal = fmt.Errorf("the send log cannot be written: %w", err)
			}
		}
		report(oc)
	}
	return out
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
