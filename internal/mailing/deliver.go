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
	d := NewDeliverer(ctx, t, plan.Run, o)
	out := make([]Outcome, 0, len(plan.Messages))
	for _, m := range plan.Messages {
		out = append(out, d.Send(m))
	}
	return out
}

// Deliverer delivers the messages of one run one at a time as Deliver does,
// keeping across calls what Deliver keeps across a plan: the pace of the
// rate limit and a connection failure that fails every later message.
type Deliverer struct {
	ctx      context.Context
	t        Transport
	run      string
	o        DeliverOptions
	interval time.Duration
	last     time.Time // start of the previous send
	fatal    error
}

// NewDeliverer returns a Deliverer of the messages of run (RunKey) through t.
func NewDeliverer(ctx context.Context, t Transport, run string, o DeliverOptions) *Deliverer {
	if o.Backoff == 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &Deliverer{ctx: ctx, t: t, run: run, o: o}
	if o.Rate > 0 {
		d.interval = time.Duration(float64(time.Minute) / o.Rate)
	}
	return d
}

// Send delivers m (unless the send log lists it), records it, reports it to Progress, and returns its outcome.
func (d *Deliverer) Send(m *Message) Outcome {
	oc := d.send(m)
	if d.o.Progress != nil {
		d.o.Progress(oc)
	}
	return oc
}

func (d *Deliverer) send(m *Message) Outcome {
	ctx, o := d.ctx, d.o
	if o.Log != nil && !o.Resend {
		if prev, ok := o.Log.Find(d.run, m); ok {
			return Outcome{Message: m, Status: AlreadySent, Previous: prev}
		}
	}
	if d.fatal != nil {
		return Outcome{Message: m, Status: Failed, Err: fmt.Errorf("not sent: %w", d.fatal)}
	}
	if err := ctx.Err(); err != nil {
		return Outcome{Message: m, Status: Failed, Err: fmt.Errorf("not sent: %w", err)}
	}
	if d.interval > 0 && !d.last.IsZero() {
		if err := sleep(ctx, time.Until(d.last.Add(d.interval))); err != nil {
			return Outcome{Message: m, Status: Failed, Err: fmt.Errorf("not sent: %w", err)}
		}
	}
	d.last = time.Now()
	oc := Outcome{Message: m}
	wait := o.Backoff
	for {
		oc.Attempts++
		err := d.t.Send(ctx, m)
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
			d.fatal = err
		}
		break
	}
	if oc.Status == Sent && o.Log != nil && !o.NoRecord {
		if err := o.Log.Add(LogEntry{Run: d.run, RunID: o.RunID, Partner: m.Partner, Hosts: m.Hosts, Owner: m.Owner, To: m.To,
			MessageID: m.ID, Subject: m.Subject, Sent: o.Now().UTC()}); err != nil {
			// Delivered but not recorded: a re-run would send it again, so say so and stop.
			oc.Err = err
			d.fatal = fmt.Errorf("the send log cannot be written: %w", err)
		}
	}
	return oc
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
