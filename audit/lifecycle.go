package audit

import (
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// RootUse says how Lifecycle tells whether a private root is in use.
type RootUse int

// How a private root counts as used.
const (
	// UsedByChain: the rows were probed; a root is used by the rows whose
	// chain ended in it (a scan, a probe, the demo).
	UsedByChain RootUse = iota
	// UsedByDeclaration: nothing was probed, only an inventory read
	// (mxaudit roots --inventory); a root is used by the rows naming its file.
	UsedByDeclaration
	// UseUnknown: neither probe nor inventory (mxaudit roots alone); a root
	// is graded by its dates only and never counts as unused.
	UseUnknown
)

// Lifecycle grades the imported private roots at now under th, the one
// place a root's lifecycle is computed (scan, mxaudit roots, the reports):
// its days left, the rows that declare it (the inventory's private_root
// names its file), the rows that use it (see RootUse) and its status
// (Thresholds.RootStatus). The roots are returned in their order, with
// their other fields and findings as they were.
func Lifecycle(roots []PrivateRoot, rows []Result, use RootUse, now time.Time, th Thresholds) []PrivateRoot {
	out := make([]PrivateRoot, len(roots))
	for i, pr := range roots {
		pr.DeclaredBy, pr.UsedBy = []string{}, []string{}
		for j := range rows {
			r := &rows[j]
			if r.PrivateRoot != "" && filepath.Base(r.PrivateRoot) == pr.File && !slices.Contains(pr.DeclaredBy, r.Name) {
				pr.DeclaredBy = append(pr.DeclaredBy, r.Name)
			}
			if use == UsedByChain && endsIn(r, pr) && !slices.Contains(pr.UsedBy, r.Name) {
				pr.UsedBy = append(pr.UsedBy, r.Name)
			}
		}
		used := len(pr.UsedBy) > 0
		switch use {
		case UsedByDeclaration:
			used = len(pr.DeclaredBy) > 0
		case UseUnknown:
			used = true
		}
		pr.DaysLeft = DaysLeft(pr.NotAfter, now)
		pr.Status = th.RootStatus(pr.DaysLeft, used)
		out[i] = pr
	}
	return out
}

// endsIn reports whether a chain of r ended in the private root pr: its
// own (the worst target's) or that of any of its targets.
func endsIn(r *Result, pr PrivateRoot) bool {
	if rootIs(r.Root, pr) {
		return true
	}
	for i := range r.Targets {
		if rootIs(r.Targets[i].Root, pr) {
			return true
		}
	}
	return false
}

// rootIs reports whether a chain's anchor is the private root pr.
func rootIs(root Root, pr PrivateRoot) bool {
	return root.Store == RootPrivate && root.SHA256 != "" && strings.EqualFold(root.SHA256, pr.SHA256)
}

// RootStatusOf returns pr's recorded status, or grades it under th when a
// results.json carries none.
func RootStatusOf(pr PrivateRoot, th Thresholds) string {
	if pr.Status != "" {
		return pr.Status
	}
	return th.RootStatus(pr.DaysLeft, len(pr.UsedBy) > 0)
}

// Attention reports whether a root status asks for action before mail
// fails: the root is expired or expiring.
func Attention(status string) bool { return status == RootExpired || status == RootExpiring }
