package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/builtin"
	"github.com/mxaudit/mxaudit/plugins/checkspb"
	"github.com/mxaudit/mxaudit/plugins/host"
	"github.com/mxaudit/mxaudit/plugins/sdk"
	"google.golang.org/grpc"
	"testing"
)

// The test binary doubles as every plugin the tests need: linked into a
// temp dir as mxaudit-check-<role> (or started with MXAUDIT_TEST_PLUGIN=<role>)
// it serves that role instead of running tests.
func TestMain(m *testing.M) {
	// The link's name wins: plugins inherit the environment of a test host.
	role := os.Getenv("MXAUDIT_TEST_PLUGIN")
	if base := filepath.Base(os.Args[0]); strings.HasPrefix(base, host.Prefix) {
		role = strings.TrimPrefix(base, host.Prefix)
	}
	switch role {
	case "":
		os.Exit(m.Run())
	case "builtin":
		builtin.Serve()
	case "hostproc":
		// A host that starts the plugin in $PLUGIN, prints its pid and waits to be killed.
		h := host.Open(context.Background(), host.Options{Plugins: []string{os.Getenv("PLUGIN")}})
		fmt.Println(h.Pid(os.Getenv("PLUGIN")))
		select {}
	case "echo":
		sdk.Serve(&echoCheck{name: "echo"}, &panicCheck{})
	case "crash":
		sdk.Serve(&crashCheck{})
	case "hang":
		sdk.Serve(&hangCheck{})
	case "badversion":
		goplugin.Serve(&goplugin.ServeConfig{
			HandshakeConfig:  sdk.Handshake,
			VersionedPlugins: map[int]goplugin.PluginSet{2: {sdk.PluginName: &sdk.Plugin{Checks: sdk.NewServer(&echoCheck{name: "badversion"})}}},
			GRPCServer:       goplugin.DefaultGRPCServer,
		})
	case "garbage":
		goplugin.Serve(&goplugin.ServeConfig{
			HandshakeConfig:  sdk.Handshake,
			VersionedPlugins: map[int]goplugin.PluginSet{1: {sdk.PluginName: &rawPlugin{}}},
			GRPCServer:       goplugin.DefaultGRPCServer,
		})
	default:
		fmt.Fprintln(os.Stderr, "unknown test plugin role", role)
		os.Exit(2)
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
		out.Partner(i, audit.Info, fmt.Sprintf("saw %s batch=%d now=%s tag=%s list=%s",
			r.Name, len(b.Results), b.Now.Format("2006-01-02"), c.cfg.String("tag", "-"), strings.Join(c.cfg.Strings("list"), "|")), "")
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

// crashCheck crashes its process in the middle of a call (a panic outside the SDK's recover).
type crashCheck struct{}

func (crashCheck) Info() sdk.Info             { return sdk.Info{Name: "crash", Version: "0.1.0"} }
func (crashCheck) Configure(sdk.Config) error { return nil }
func (crashCheck) Check(context.Context, *sdk.Batch, *sdk.Report) error {
	done := make(chan struct{})
	go func() { panic("crash: crashing on purpose") }() // not recovered: the process dies
	<-done
	return nil
}

// hangCheck never answers and ignores cancellation.
type hangCheck struct{}

func (hangCheck) Info() sdk.Info             { return sdk.Info{Name: "hang", Version: "0.1.0"} }
func (hangCheck) Configure(sdk.Config) error { return nil }
func (hangCheck) Check(context.Context, *sdk.Batch, *sdk.Report) error {
	fmt.Fprintln(os.Stderr, "hang: hanging now")
	select {}
}

// rawPlugin serves a hand-written protocol server that answers garbage.
type rawPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (rawPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	checkspb.RegisterChecksServer(s, garbageServer{})
	return nil
}

func (rawPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

type garbageServer struct {
	checkspb.UnimplementedChecksServer
}

func (garbageServer) Describe(context.Context, *checkspb.DescribeRequest) (*checkspb.DescribeResponse, error) {
	return &checkspb.DescribeResponse{Checks: []*checkspb.CheckInfo{{Name: "garbage", Version: "6.6.6"}}}, nil
}

func (garbageServer) Configure(context.Context, *checkspb.ConfigureRequest) (*checkspb.ConfigureResponse, error) {
	return &checkspb.ConfigureResponse{}, nil
}

func (garbageServer) Check(_ context.Context, req *checkspb.CheckRequest) (*checkspb.CheckResponse, error) {
	return &checkspb.CheckResponse{Findings: []*checkspb.Finding{
		{Check: "garbage", Severity: "catastrophic", Message: "\x00\x01",
			Target: &checkspb.Finding_Result{Result: uint32(len(req.Results) + 7)}},
	}}, nil
}
