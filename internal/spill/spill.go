// Package spill holds a run's partner results (or any record per partner)
// on disk as they complete, in any order, and reads them back in inventory
// order: the results leave memory, and every writer reads them back one at
// a time.
package spill

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
)

// MaxRecord is the largest encoded result the store reads back (a result
// with every chain and transcript is a few hundred KB at most).
const MaxRecord = 64 << 20

// Store is a spill file of records of type T (an audit.Result, or a
// result with what a later stage needs beside it), each at its inventory index. It keeps
// 12 bytes per partner in memory (where each record is); Put is safe from
// one goroutine at a time.
type Store[T any] struct {
	f     *os.File
	w     *bufio.Writer
	end   int64
	off   []int64 // offset of partner i's record, -1 when absent
	size  []int32
	n     int // records put
	mu    sync.Mutex
	dirty bool // records put since the last flush
}

// Create makes a spill file in dir ("" for the system's temporary
// directory); the file is removed by Close.
func Create[T any](dir string) (*Store[T], error) {
	f, err := os.CreateTemp(dir, ".mxaudit-spill-*")
	if err != nil {
		return nil, fmt.Errorf("spill file: %w", err)
	}
	return &Store[T]{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// Path is the spill file's path.
func (s *Store[T]) Path() string { return s.f.Name() }

// Len is one more than the highest index put.
func (s *Store[T]) Len() int { return len(s.off) }

// Count is the number of results put.
func (s *Store[T]) Count() int { return s.n }

// Put writes partner i's result.
func (s *Store[T]) Put(i int, r *T) error {
	if i < 0 {
		return fmt.Errorf("spill %s: partner %d: a negative index", s.f.Name(), i)
	}
	for len(s.off) <= i {
		s.off, s.size = append(s.off, -1), append(s.size, 0)
	}
	if s.off[i] >= 0 {
		return fmt.Errorf("spill %s: partner %d put twice", s.f.Name(), i)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("spill: partner %d: %w", i, err)
	}
	if len(b) > MaxRecord {
		return fmt.Errorf("spill: partner %d: a record of %d bytes, over the %d-byte limit", i, len(b), MaxRecord)
	}
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("spill %s: %w", s.f.Name(), err)
	}
	s.off[i], s.size[i] = s.end, int32(len(b))
	s.dirty = true
	s.end += int64(len(b))
	s.n++
	return nil
}

// Each calls fn with every result put, in inventory order, one at a time;
// an error of fn stops it and is returned.
func (s *Store[T]) Each(fn func(i int, r *T) error) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("spill %s: %w", s.f.Name(), err)
	}
	s.dirty = false
	var buf []byte
	for i, off := range s.off {
		if off < 0 {
			continue
		}
		n := int(s.size[i])
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := s.f.ReadAt(buf, off); err != nil && err != io.EOF {
			return fmt.Errorf("spill %s: partner %d: %w", s.f.Name(), i, err)
		}
		var r T
		if err := json.Unmarshal(buf, &r); err != nil {
			return fmt.Errorf("spill %s: partner %d at byte %d: %w", s.f.Name(), i, off, err)
		}
		if err := fn(i, &r); err != nil {
			return err
		}
	}
	return nil
}

// Get reads the record put at index i, or nil when none was. Calls of
// Get may run at once with each other, not with Put.
func (s *Store[T]) Get(i int) (*T, error) {
	if i < 0 || i >= len(s.off) || s.off[i] < 0 {
		return nil, nil
	}
	s.mu.Lock()
	if s.dirty {
		if err := s.w.Flush(); err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("spill %s: %w", s.f.Name(), err)
		}
		s.dirty = false
	}
	s.mu.Unlock()
	buf := make([]byte, s.size[i])
	if _, err := s.f.ReadAt(buf, s.off[i]); err != nil && err != io.EOF {
		return nil, fmt.Errorf("spill %s: partner %d: %w", s.f.Name(), i, err)
	}
	var r T
	if err := json.Unmarshal(buf, &r); err != nil {
		return nil, fmt.Errorf("spill %s: partner %d at byte %d: %w", s.f.Name(), i, s.off[i], err)
	}
	return &r, nil
}

// Close removes the spill file.
func (s *Store[T]) Close() error {
	cerr := s.f.Close()
	if err := os.Remove(s.f.Name()); err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	return cerr
}
