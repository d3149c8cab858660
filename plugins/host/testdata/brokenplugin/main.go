// Command brokenplugin is a check plugin that misbehaves in the way its
// file name says: mxaudit-check-crash, -hang, -badversion or -garbage.
// End-to-end tests build it once and link it under each name.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/checkspb"
	"github.com/mxaudit/mxaudit/plugins/sdk"
	"google.golang.org/grpc"
)

func main() {
	mode := strings.TrimPrefix(filepath.Base(os.Args[0]), "mxaudit-check-")
	switch mode {
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
		sdk.Serve(broken{mode})
	}
}

// broken crashes or hangs in Check.
type broken struct{ mode string }

func (b broken) Info() sdk.Info {
	return sdk.Info{Name: b.mode, Version: "0.0.1", Description: "misbehaves: " + b.mode}
}
func (broken) Configure(sdk.Config) error { return nil }
func (b broken) Check(context.Context, *sdk.Batch, *sdk.Report) error {
	switch b.mode {
	case "crash":
		go func() { panic("brokenplugin: crashing on purpose") }()
	case "hang":
		fmt.Fprintln(os.Stderr, "brokenplugin: hanging on purpose")
	}
	select {}
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
	return &checkspb.CheckResponse{Findings: []*checkspb.Finding{{Check: "garbage", Severity: string(audit.Severity("catastrophic")),
		Message: "?", Target: &checkspb.Finding_Result{Result: uint32(len(req.Results) + 7)}}}}, nil
}
