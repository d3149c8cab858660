package audit

import (
	"errors"
	"iter"
)

// Each is a run's partner results read one at a time, in results order
// (from memory, a results.json, a history database or a spill file): it
// calls fn with each and stops at fn's first error, which it returns. A
// *Result given to fn is valid until fn returns; calling Each again reads
// the partners again.
type Each func(fn func(*Result) error) error

// EachOf gives the partners res holds.
func EachOf(res *Results) Each {
	return func(fn func(*Result) error) error {
		for i := range res.Partners {
			if err := fn(&res.Partners[i]); err != nil {
				return err
			}
		}
		return nil
	}
}

// Seq is each as an iterator (every range reads the partners again), and
// a func giving the first error met reading them, once ranging is over.
func (each Each) Seq() (iter.Seq[*Result], func() error) {
	var first error
	return func(yield func(*Result) bool) {
		stop := errors.New("stopped")
		err := each(func(r *Result) error {
			if !yield(r) {
				return stop
			}
			return nil
		})
		if err != nil && err != stop && first == nil {
			first = err
		}
	}, func() error { return first }
}
