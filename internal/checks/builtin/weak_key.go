package builtin

import (
	"context"
	"fmt"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// weakKeyCheck flags chain certificates with short keys.
type weakKeyCheck struct {
	minRSA, minEC int
}

func (*weakKeyCheck) Info() sdk.Info {
	return sdk.Info{
		Name:        "weak-key",
		Version:     Version,
		Description: "a certificate of the chain has an RSA key under min_rsa_bits or an EC key under min_ec_bits",
		Severity:    audit.Error,
		Citation:    "NIST SP 800-57 Part 1 Rev. 5, table 2; CA/Browser Forum Baseline Requirements 6.1.5",
		Source:      source,
		Config: []sdk.ConfigKey{
			{Name: "min_rsa_bits", Description: "smallest acceptable RSA modulus", Default: "2048"},
			{Name: "min_ec_bits", Description: "smallest acceptable EC curve size", Default: "256"},
		},
	}
}

func (c *weakKeyCheck) Configure(cfg sdk.Config) error {
	var err error
	if c.minRSA, err = cfg.Int("min_rsa_bits", 2048); err != nil {
		return err
	}
	c.minEC, err = cfg.Int("min_ec_bits", 256)
	return err
}

func (c *weakKeyCheck) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	for i := range b.Results {
		r := &b.Results[i]
		for j := range r.Chain {
			cert := &r.Chain[j]
			if sentRoot(cert, j) {
				continue
			}
			min := 0
			switch cert.KeyType {
			case "RSA":
				min = c.minRSA
			case "ECDSA":
				min = c.minEC
			}
			if cert.KeyBits > 0 && cert.KeyBits < min {
				out.Partner(i, audit.WeakKey.Severity(r.Enforced),
					fmt.Sprintf("%s certificate %s has a %d-bit %s key (minimum %d)", certRole(j), cert.Subject, cert.KeyBits, cert.KeyType, min),
					audit.WeakKey.Remedy())
			}
		}
	}
	return nil
}
