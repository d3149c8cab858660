package checks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks"
	"github.com/mxaudit/mxaudit/internal/checks/builtin"
	"github.com/mxaudit/mxaudit/internal/checks/plugintest"
	"github.com/mxaudit/mxaudit/plugins/sdk"
	"testing"
)

// The test binary doubles as every plugin the tests need: linked into a
// temp dir as mxaudit-check-<role> (or started with MXAUDIT_TEST_PLUGIN=<role>)
// it serves that role instead of running tests.
func TestMain(m *testing.M) {
	// The link's name wins: plugins inherit the environment of a test host.
	role := os.Getenv("MXAUDIT_TEST_PLUGIN")
	if base := filepath.Base(os.Args[0]); strings.HasPrefix(base, checks.Prefix) {
		role = strings.TrimPrefix(base, checks.Prefix)
	}
	switch role {
	case "":
		os.Exit(m.Run())
	case "builtin":
		builtin.Serve()
	case "hostproc":
		// A host that starts the plugin in $PLUGIN, prints its pid and waits to be killed.
		h := checks.Open(context.Background(), checks.Options{Plugins: []string{os.Getenv("PLUGIN")}})
		fmt.Println(h.Pid(os.Getenv("PLUGIN")))
		select {}
	case "echo":
		sdk.Serve(&echoCheck{name: "echo"}, &panicCheck{})
	default:
		if !plugintest.Serve(role) { // crash, hang, badversion, garbage
			fmt.Fprintln(os.Stderr, "unknown test plugin role", role)
			os.Exit(2)
		}
	}
	os.Exit(0)
}

// echoCheck reports one info finding per result and private root, naming
// what it saw and its settings, so tests can follow every finding back.
type echoCheck struct {
	name string
	cfg  sdk.Config
}

func (c *echoCheck) Info() sdk.Info {
	return sdk.Info{Name: c.name, Version: "0.1.0", Description: "echoes its input", Severity: audit.Info,
		Config: []sdk.ConfigKey{{Name: "tag", Description: "added to each message"}, {Name: "list"}}}
}

func (c *echoCheck) Configure(cfg sdk.Config) error { c.cfg = cfg; return nil }

func (c *echoCheck) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	for i, r := range b.Results {
		out.Partner(i, audit.Info, fmt.Sprintf("saw %s batch=%d now=%s rsa=%d tag=%s list=%s",
			r.Name, len(b.Results), b.Now.Format("2006-01-02"), b.Thresholds.MinRSABits, c.cfg.String("tag", "-"), strings.Join(c.cfg.Strings("list"), "|")), "")
	}
	for i, p := range b.PrivateRoots {
		out.PrivateRoot(i, audit.Warning, "saw root "+p.Subject, "")
	}
	return nil
}

// panicCheck panics on every batch: the SDK turns that into a CheckError.
type panicCheck struct{}

func (panicCheck) Info() sdk.Info             { return sdk.Info{Name: "panics", Version: "0.1.0"} }
func (panicCheck) Configure(sdk.Config) error { return nil }
func (panicCheck) Check(context.Context, *sdk.Batch, *sdk.Report) error {
	panic("index out of range on purpose")
}
