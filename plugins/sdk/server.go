package sdk

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/checkspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// server implements checkspb.ChecksServer over a set of checks.
type server struct {
	checkspb.UnimplementedChecksServer
	checks []Check

	mu      sync.RWMutex
	enabled []Check // set by Configure
}

// NewServer returns the gRPC server of checks; Serve uses it, and tests or
// benchmarks may call it in-process.
func NewServer(checks ...Check) checkspb.ChecksServer {
	return &server{checks: checks}
}

func (s *server) Describe(context.Context, *checkspb.DescribeRequest) (*checkspb.DescribeResponse, error) {
	resp := &checkspb.DescribeResponse{}
	for _, c := range s.checks {
		in := c.Info()
		ci := &checkspb.CheckInfo{
			Name: in.Name, Version: in.Version, Description: in.Description,
			Severity: string(in.Severity), Citation: in.Citation, Maintainer: in.Maintainer,
		}
		for _, k := range in.Config {
			ci.Config = append(ci.Config, &checkspb.ConfigKey{Name: k.Name, Description: k.Description, Default: k.Default})
		}
		resp.Checks = append(resp.Checks, ci)
	}
	return resp, nil
}

func (s *server) find(name string) Check {
	for _, c := range s.checks {
		if c.Info().Name == name {
			return c
		}
	}
	return nil
}

// Configure enables the named checks with their settings; unknown checks
// and unknown keys are InvalidArgument.
func (s *server) Configure(_ context.Context, req *checkspb.ConfigureRequest) (*checkspb.ConfigureResponse, error) {
	var enabled []Check
	for _, cc := range req.Checks {
		c := s.find(cc.Name)
		if c == nil {
			return nil, status.Errorf(codes.InvalidArgument, "no check named %q here", cc.Name)
		}
		info := c.Info()
		cfg := Config{}
		for _, st := range cc.Settings {
			if !slices.ContainsFunc(info.Config, func(k ConfigKey) bool { return k.Name == st.Key }) {
				return nil, status.Errorf(codes.InvalidArgument, "check %s: unknown setting %q", cc.Name, st.Key)
			}
			cfg[st.Key] = st.Values
		}
		if err := c.Configure(cfg); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "check %s: %v", cc.Name, err)
		}
		enabled = append(enabled, c)
	}
	s.mu.Lock()
	s.enabled = enabled
	s.mu.Unlock()
	return &checkspb.ConfigureResponse{}, nil
}

// Check runs every enabled check over the batch. A check that fails or
// panics is reported in CheckResponse.errors; the others' findings stand.
func (s *server) Check(ctx context.Context, req *checkspb.CheckRequest) (*checkspb.CheckResponse, error) {
	s.mu.RLock()
	enabled := s.enabled
	s.mu.RUnlock()
	if enabled == nil {
		return nil, status.Error(codes.FailedPrecondition, "Check before Configure")
	}
	results := make([]audit.Result, len(req.Results))
	for i, r := range req.Results {
		results[i] = checkspb.DecodeResult(r)
	}
	roots := make([]audit.PrivateRoot, len(req.PrivateRoots))
	for i, p := range req.PrivateRoots {
		roots[i] = checkspb.DecodePrivateRoot(p)
	}
	b := NewBatch(checkspb.Time(req.Now), results, roots)
	b.Thresholds = checkspb.DecodeThresholds(req.Thresholds)
	resp := &checkspb.CheckResponse{}
	for _, c := range enabled {
		if err := ctx.Err(); err != nil {
			return nil, status.FromContextError(err).Err()
		}
		name := c.Info().Name
		rep := &Report{check: name, batch: b}
		if err := runCheck(ctx, c, b, rep); err != nil {
			resp.Errors = append(resp.Errors, &checkspb.CheckError{Check: name, Message: err.Error()})
			continue
		}
		resp.Findings = append(resp.Findings, rep.findings...)
	}
	return resp, nil
}

func runCheck(ctx context.Context, c Check, b *Batch, rep *Report) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return c.Check(ctx, b, rep)
}
