package audit

// Change kinds, the values of Change.Kind: what differs from the previous
// run of the same inventory (internal/history detects them).
const (
	ChangePartnerAdded     = "partner_added"      // the partner is in this run's inventory and not in the baseline's
	ChangePartnerRemoved   = "partner_removed"    // the partner was in the baseline and is gone
	ChangeMXAdded          = "mx_added"           // an MX host the partner did not have (Target names it, After its addresses)
	ChangeMXRemoved        = "mx_removed"         // an MX host the partner had is gone
	ChangeAddressAdded     = "address_added"      // an MX host of the partner has an address it did not have
	ChangeAddressRemoved   = "address_removed"    // an address of an MX host of the partner is gone
	ChangeVerdictWorse     = "verdict_worse"      // the primary verdict ranks more severe by Verdict.Rank
	ChangeVerdictRecovered = "verdict_recovered"  // the primary verdict ranks less severe
	ChangeCertReplaced     = "cert_replaced"      // the leaf certificate's SHA-256 differs
	ChangeIssuerChanged    = "issuer_changed"     // the leaf's issuer DN differs
	ChangeSubjectChanged   = "subject_changed"    // the leaf's subject DN differs
	ChangeKeyChanged       = "key_changed"        // the leaf's public key differs
	ChangeRootStoreChanged = "root_store_changed" // the chain moved between a public CA, a private CA and no trusted root
	ChangeExpiryThreshold  = "expiry_threshold"   // the leaf's days left crossed a mark of Thresholds.ExpiryMarks
)

// ChangeKinds lists every change kind in the order changes of one partner
// are reported and the reports group them.
var ChangeKinds = []string{
	ChangePartnerAdded, ChangePartnerRemoved, ChangeMXAdded, ChangeMXRemoved, ChangeAddressAdded, ChangeAddressRemoved,
	ChangeVerdictWorse, ChangeVerdictRecovered, ChangeCertReplaced, ChangeIssuerChanged, ChangeSubjectChanged,
	ChangeKeyChanged, ChangeRootStoreChanged, ChangeExpiryThreshold,
}
