package audit

// Completion is what the revocation stage found when it completed a
// PartialChain from the AIA caIssuers URLs of the certificates sent, as
// Windows does: the facts only; the aia check words them as a finding.
type Completion struct {
	LastSent string   `json:"last_sent"`         // subject of the last certificate the server sent
	Missing  string   `json:"missing"`           // its issuer, which the server did not send
	Built    bool     `json:"built"`             // the chain reaches a trusted root: Windows would build it
	Fetched  []string `json:"fetched,omitempty"` // subjects of the issuers fetched, in chain order
	URLs     []string `json:"urls,omitempty"`    // the caIssuers URLs fetched, in order
	Offline  bool     `json:"offline,omitempty"` // nothing was fetched (--offline)
	Reason   string   `json:"reason,omitempty"`  // why the chain was not built, in words
}
