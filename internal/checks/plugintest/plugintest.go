// Package plugintest holds check plugins that misbehave on purpose, for the
// tests of the plugin host and of the CLI: one that crashes, one that
// hangs, one that speaks the wrong protocol version and one that answers
// garbage.
package plugintest

import (
	"context"
	"fmt"
	"os"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/mxaudit/mxaudit/plugins/checkspb"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// Modes are the misbehaviours Serve knows.
var Modes = []string{"crash", "hang", "badversion", "garbage"}

// Serve serves the misbehaving plugin called mode and reports false when
// mode is not one of Modes.
func Serve(mode string) bool {
	switch mode {
	case "crash", "hang":
		sdk.Serve(broken{mode})
	case "badversion":
		goplugin.Serve(&goplugin.ServeConfig{
			HandshakeConfig:  sdk.Handshake,
			VersionedPlugins: map[int]goplugin.PluginSet{sdk.ProtocolVersion + 1: {sdk.PluginName: &sdk.Plugin{Checks: sdk.NewServer(broken{mode})}}},
			GRPCServer:       goplugin.DefaultGRPCServer,
		})
	case "garbage":
		goplugin.Serve(&goplugin.ServeConfig{
			HandshakeConfig:  sdk.Handshake,
			VersionedPlugins: map[int]goplugin.PluginSet{sdk.ProtocolVersion: {sdk.PluginName: rawPlugin{}}},
			GRPCServer:       goplugin.DefaultGRPCServer,
		})
	default:
		return false
	}
	return true
}

// broken crashes its process or hangs in Check.
type broken struct{ mode string }

func (b broken) Info() sdk.Info {
	return sdk.Info{Name: b.mode, Version: "0.0.1", Description: "misbehaves: " + b.mode}
}

func (broken) Configure(sdk.Config) error { return nil }

func (b broken) Check(context.Context, *sdk.Batch, *sdk.Report) error {
	switch b.mode {
	case "crash":
		go func() { panic("plugintest: crashing on purpose") }() // not recovered: the process dies
	case "hang":
		fmt.Fprintln(os.Stderr, "plugintest: hanging on purpose")
	}
	select {} // hangs, ignoring cancellation
}

// rawPlugin serves a checks server that answers garbage.
type rawPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (rawPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	checkspb.RegisterChecksServer(s, garbage{})
	return nil
}

func (rawPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

type garbage struct {
	checkspb.UnimplementedChecksServer
}

func (garbage) Describe(context.Context, *checkspb.DescribeRequest) (*checkspb.DescribeResponse, error) {
	return &checkspb.DescribeResponse{Checks: []*checkspb.CheckInfo{{Name: "garbage", Version: "0.0.1"}}}, nil
}

func (garbage) Configure(context.Context, *checkspb.ConfigureRequest) (*checkspb.ConfigureResponse, error) {
	return &checkspb.ConfigureResponse{}, nil
}

func (garbage) Check(_ context.Context, req *checkspb.CheckRequest) (*checkspb.CheckResponse, error) {
	return &checkspb.CheckResponse{Findings: []*checkspb.Finding{{Check: "garbage", Severity: "catastrophic",
		Message: "\x00\x01", Target: &checkspb.Finding_Result{Result: uint32(len(req.Results) + 7)}}}}, nil
}
