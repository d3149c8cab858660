package history

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"
	"unicode"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/shard"
)

// Scope is what a run audits and from where: the inventory (its absolute
// path), the vantage point the probes left from, and the slice of the
// inventory. Runs of one scope are compared with each other (changes are
// computed per vantage point and slice), and one scan of a scope runs at a
// time (the lock).
type Scope struct {
	Inventory string
	Vantage   string     // "" for the default vantage point
	Shard     shard.Spec // the zero Spec for the whole inventory
}

// String says the scope in words, for messages.
func (s Scope) String() string {
	out := "inventory " + s.Inventory
	if s.Vantage != "" {
		out += ", vantage " + s.Vantage
	}
	if !s.Shard.Whole() {
		out += ", shard " + s.Shard.String()
	}
	return out
}

// lockKey is the 64-bit PostgreSQL advisory lock key of the scope.
func (s Scope) lockKey() int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "mxaudit-history\x00%s\x00%s\x00%d/%d", s.Inventory, s.Vantage, s.Shard.K, s.Shard.N)
	return int64(h.Sum64())
}

// RunMeta is what Begin records about a run before any probe.
type RunMeta struct {
	Scope
	Label   string // the run label tying the shards of one audit together, or ""
	Started time.Time
}

// maxNameLen bounds a vantage point's name and a run label.
const maxNameLen = 64

// CheckName checks a vantage point's name or a run label (what names it, for
// the message): at most 64 characters, printable, without spaces, slashes
// or backslashes (it may become a folder name of a report).
func CheckName(what, s string) error {
	switch {
	case len(s) > maxNameLen:
		return fmt.Errorf("%s %q: longer than %d characters", what, s, maxNameLen)
	case strings.ContainsAny(s, `/\`) || s == "." || s == "..":
		return fmt.Errorf("%s %q: must not contain / or \\ or be . or ..", what, s)
	case strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }):
		return fmt.Errorf("%s %q: only printable characters without spaces", what, s)
	}
	return nil
}

// metaOf returns the run facts res carries (Record without Begin).
func metaOf(res *audit.Results) (RunMeta, error) {
	sp, err := shard.Parse(res.Shard)
	if err != nil {
		return RunMeta{}, err
	}
	return RunMeta{Scope: Scope{Inventory: res.Inventory, Vantage: res.Vantage, Shard: sp}, Label: res.RunLabel, Started: res.Started}, nil
}
