// Package shard splits an inventory into N stable slices, so that N
// scanners started by an existing scheduler (a Kubernetes Indexed Job, a
// crontab on N hosts) each audit one: `--shard K/N` audits slice K, K from 0
// to N-1 (a Kubernetes completion index).
//
// A row's slice is FNV-1a (64 bit) of its key modulo N; the key is the
// row's mail domain, lower-cased, or the partner name when the row has no
// domain, so every row of one domain (several MX hosts) lands in the same
// slice. The function is part of the history's meaning: never change it
// (rows would move between slices, and each slice compares with its own
// previous run).
package shard

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
)

// MaxShards bounds N: more slices than this is a typing error, not a plan.
const MaxShards = 10000

// Spec is slice K of N; the zero Spec is the whole inventory.
type Spec struct {
	K int // 0 <= K < N
	N int // 0 for the whole inventory
}

// Whole reports whether s is the whole inventory (no --shard).
func (s Spec) Whole() bool { return s.N == 0 }

// String returns "K/N", or "" for the whole inventory.
func (s Spec) String() string {
	if s.Whole() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.K, s.N)
}

// Parse reads "K/N" (0 <= K < N <= MaxShards); "" is the whole inventory.
func Parse(s string) (Spec, error) {
	if s == "" {
		return Spec{}, nil
	}
	ks, ns, ok := strings.Cut(s, "/")
	k, kerr := strconv.Atoi(strings.TrimSpace(ks))
	n, nerr := strconv.Atoi(strings.TrimSpace(ns))
	switch {
	case !ok || kerr != nil || nerr != nil:
		return Spec{}, fmt.Errorf("shard %q: want K/N, e.g. 0/4 (K from 0 to N-1)", s)
	case n < 1 || n > MaxShards:
		return Spec{}, fmt.Errorf("shard %q: N must be from 1 to %d", s, MaxShards)
	case k < 0 || k >= n:
		return Spec{}, fmt.Errorf("shard %q: K must be from 0 to %d (N-1; a Kubernetes completion index)", s, n-1)
	}
	return Spec{K: k, N: n}, nil
}

// Key returns what decides p's slice: its domain, lower-cased, or its
// partner name when it has no domain.
func Key(p audit.Partner) string {
	if d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(p.Domain)), "."); d != "" {
		return d
	}
	return "partner:" + p.Name
}

// Of returns the slice of N that key belongs to.
func Of(key string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(n))
}

// Holds reports whether p belongs to slice s (always, for the whole inventory).
func (s Spec) Holds(p audit.Partner) bool {
	return s.Whole() || Of(Key(p), s.N) == s.K
}

// Select returns the partners of ps that belong to slice s, in their order.
func (s Spec) Select(ps []audit.Partner) []audit.Partner {
	if s.Whole() {
		return ps
	}
	var out []audit.Partner
	for _, p := range ps {
		if s.Holds(p) {
			out = append(out, p)
		}
	}
	return out
}
