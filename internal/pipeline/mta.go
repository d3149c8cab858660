package pipeline

import (
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/delivery"
	"github.com/mxaudit/mxaudit/internal/history"
	"github.com/mxaudit/mxaudit/internal/inventory"
	"github.com/mxaudit/mxaudit/internal/inventory/formats"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
	"github.com/mxaudit/mxaudit/internal/trust"
	"github.com/mxaudit/mxaudit/internal/verify"
)

// MTA says where our own MTA's TLS policy comes from and what to ask of it
// (issue 14): the inventory may be that policy itself.
type MTA struct {
	Format             formats.Format   // --inventory-format; formats.Unknown: detected from the file
	MainCF             string           // --postfix-main-cf; "" reads main.cf beside a Postfix policy map, if there is one
	Contacts           string           // --contacts: a partner CSV whose names, contacts and notes are merged by domain
	WhatIfLevel        *mtapolicy.Level // --what-if-level
	WhatIfDomainSecure bool             // --what-if-domain-secure
	AnchorRoot         string           // tafile paths are read below this directory; "" for this host's own files
}

// sniffSize is how much of an inventory file is read to tell its format.
const sniffSize = 64 << 10

// inventoryFormat is the format of the inventory: the one named, else detected.
func (cfg Config) inventoryFormat() (formats.Format, error) {
	if cfg.MTA.Format != formats.Unknown {
		return cfg.MTA.Format, nil
	}
	f, err := os.Open(cfg.Inventory)
	if err != nil {
		return formats.Unknown, fmt.Errorf("inventory: %w", err)
	}
	defer f.Close()
	buf := make([]byte, sniffSize)
	n, _ := f.Read(buf)
	return formats.Detect(cfg.Inventory, buf[:n]), nil
}

// mtaInventory reads an MTA inventory file (and main.cf, and the contacts
// CSV) into our MTA's policy and the partners it names.
func (cfg Config) mtaInventory(format formats.Format, log *slog.Logger) (*mtapolicy.MTA, []audit.Partner, []audit.InventoryError, error) {
	inv, errs, err := formats.ReadFile(cfg.Inventory, format)
	if err != nil {
		return nil, nil, nil, err
	}
	invs := []*formats.Inventory{inv}
	mainCF := cfg.MTA.MainCF
	if beside := filepath.Join(filepath.Dir(cfg.Inventory), "main.cf"); mainCF == "" && format == formats.PostfixPolicyMap && fileExists(beside) {
		mainCF = beside
		log.Info("Postfix main.cf read beside the policy map", "file", beside)
	}
	if mainCF != "" {
		mc, e, err := formats.ReadFile(mainCF, formats.PostfixMainCF)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--postfix-main-cf: %w", err)
		}
		errs = append(errs, e...)
		invs = append(invs, mc)
	}
	m, e := formats.Gather(invs...)
	errs = append(errs, e...)
	for _, err := range m.LoadAnchors(cfg.MTA.AnchorRoot) {
		cfg.problem(err.Error())
		log.Warn("tafile not loaded: its entries are undetermined", "error", err)
	}
	partners := formats.Partners(m)
	if cfg.MTA.Contacts != "" {
		people, err := inventory.Load(cfg.MTA.Contacts)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--contacts: %w", err)
		}
		errs = append(errs, people.Errors...)
		formats.MergeContacts(partners, people.Partners)
	}
	log.Info("inventory is our MTA's TLS policy", "file", cfg.Inventory, "format", string(format), "partners", len(partners))
	return m, partners, errs, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// columnPolicy is our MTA's policy from the `policy` column of a partner
// CSV, with main.cf's defaults when --postfix-main-cf names one; nil when
// no row has a policy.
func (cfg Config) columnPolicy(partners []audit.Partner) (*mtapolicy.MTA, []audit.InventoryError, error) {
	var invs []*formats.Inventory
	if cfg.MTA.MainCF != "" {
		mc, _, err := formats.ReadFile(cfg.MTA.MainCF, formats.PostfixMainCF)
		if err != nil {
			return nil, nil, fmt.Errorf("--postfix-main-cf: %w", err)
		}
		invs = append(invs, mc)
	}
	m, errs := formats.Gather(invs...)
	if !formats.AddPolicyColumn(m, partners, cfg.Inventory, &errs) {
		return nil, nil, nil
	}
	for _, err := range m.LoadAnchors(cfg.MTA.AnchorRoot) {
		cfg.problem(err.Error())
	}
	return m, errs, nil
}

// deliveryDecider returns what decides what our MTA does with mail for
// each target of a partner (given the partner's inventory rows), or nil
// without our MTA's policy; the history tells how long a target's mail
// has been deferred (a deferral longer than the queue lifetime has bounced).
func deliveryDecider(cfg Config, head *audit.Results, m *mtapolicy.MTA, tr *trust.Store) func(*audit.Result, []audit.Partner, history.Prior) {
	if m == nil {
		return nil
	}
	now := head.Started
	anchors := anchors(tr.PrivateRoots(now))
	type verified struct {
		path []*x509.Certificate
		why  string
	}
	done := map[[32]byte]verified{} // a probe shared by many partners is verified once
	opts := delivery.Options{
		MTA: m, WhatIfLevel: cfg.MTA.WhatIfLevel, WhatIfDomainSecure: cfg.MTA.WhatIfDomainSecure, Now: now,
		// The DANE facts of the published-policies stage; a resolver not
		// trusted for DNSSEC looked no TLSA up, so they are unknown then.
		TLSA: func(_ *audit.Result, t *audit.TargetResult) (mtapolicy.TLSA, bool) {
			if t.Policies == nil || t.Policies.DNSSEC == audit.DNSSECUntrusted {
				return "", false
			}
			return delivery.TLSAFrom(t.Policies)
		},

		Verify: func(chain []*x509.Certificate) ([]*x509.Certificate, string) {
			h := sha256.New()
			for _, c := range chain {
				h.Write(c.Raw)
			}
			k := [32]byte(h.Sum(nil))
			if v, ok := done[k]; ok {
				return v.path, v.why
			}
			out := verify.Verify(verify.Input{Chain: chain}, verify.Options{Roots: tr.Pool, StoreOf: tr.StoreOf, Anchors: anchors, Now: now, Thresholds: cfg.Thresholds})
			if len(done) >= maxVerified {
				clear(done)
			}
			done[k] = verified{out.Path, chainError(out)}
			return out.Path, done[k].why
		},
	}
	return func(p *audit.Result, rows []audit.Partner, prior history.Prior) {
		o := opts
		o.FailingFor = func(p *audit.Result, t *audit.TargetResult) time.Duration {
			if s, ok := prior.FailingSince(p.Name, t); ok {
				return now.Sub(s)
			}
			return 0
		}
		delivery.DecidePartner(p, rows, o)
	}
}

// maxVerified bounds the chains the delivery stage remembers verifying.
const maxVerified = 1 << 14

// chainError says why a chain has no verified path, from verify's chain verdicts.
func chainError(o verify.Outcome) string {
	if o.Path != nil {
		return ""
	}
	var why []string
	for _, v := range o.Verdicts {
		switch v {
		case audit.Expired, audit.NotYetValid, audit.SelfSigned, audit.UntrustedRoot, audit.PartialChain, audit.InvalidChain, audit.WrongUsage:
			why = append(why, string(v)+": "+o.Details[v])
		}
	}
	return strings.Join(why, "; ")
}
