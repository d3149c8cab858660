package pipeline

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// NotifyInterrupts returns a context that the first SIGINT, SIGTERM or
// SIGHUP cancels (the stage under way stops; what is done is written); a
// second such signal calls exit, which should end the process at once.
// Call stop when the run is over.
func NotifyInterrupts(parent context.Context, exit func()) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for n := 0; ; n++ {
			select {
			case s := <-sigs:
				if n > 0 {
					exit()
					return
				}
				cancel(fmt.Errorf("%v: %w", s, ErrInterrupted))
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}
