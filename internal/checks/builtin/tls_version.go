package builtin

import (
	"context"
	"fmt"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// tlsVersionCheck flags a negotiated TLS version older than min_version.
type tlsVersionCheck struct {
	min int // rank of the minimum version
}

// tlsVersions ranks the names crypto/tls.VersionName gives, oldest first.
var tlsVersions = []string{"SSLv3", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"}

func tlsRank(name string) int {
	n := strings.TrimSpace(name)
	if !strings.HasPrefix(n, "SSL") && !strings.HasPrefix(n, "TLS") {
		n = "TLS " + n // accept "1.2" in the config file
	}
	for i, v := range tlsVersions {
		if strings.EqualFold(v, n) {
			return i
		}
	}
	return -1
}

func (*tlsVersionCheck) Info() sdk.Info {
	return sdk.Info{
		Name:        "tls-version",
		Version:     Version,
		Description: "the partner negotiated a TLS version older than min_version (default TLS 1.2)",
		Severity:    audit.Error,
		Citation:    "RFC 8996 (TLS 1.0 and 1.1 deprecated); RFC 8314",
		Maintainer:  maintainer,
		Config: []sdk.ConfigKey{
			{Name: "min_version", Description: `oldest acceptable version: "1.2" or "TLS 1.2"`, Default: "1.2"},
		},
	}
}

func (c *tlsVersionCheck) Configure(cfg sdk.Config) error {
	v := cfg.String("min_version", "1.2")
	if c.min = tlsRank(v); c.min < 0 {
		return fmt.Errorf("min_version: unknown TLS version %q", v)
	}
	return nil
}

func (c *tlsVersionCheck) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	for i := range b.Results {
		perTarget(b, out, i, c.old)
	}
	return nil
}

// old says whether r negotiated a version older than the minimum.
func (c *tlsVersionCheck) old(r *audit.Result) []finding {
	if rk := tlsRank(r.TLSVersion); r.TLSVersion == "" || rk < 0 || rk >= c.min {
		return nil
	}
	sev := audit.Warning
	if r.Enforced {
		sev = audit.Error
	}
	return []finding{{sev,
		fmt.Sprintf("the server negotiated %s; %s or newer is required", r.TLSVersion, tlsVersions[c.min]),
		"Ask the partner to enable TLS 1.2 and 1.3 on its mail server (on Windows: the SCHANNEL protocol keys and .NET SchUseStrongCrypto) and to disable older versions."}}
}
