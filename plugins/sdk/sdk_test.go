package sdk_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/checkspb"
	"github.com/mxaudit/mxaudit/plugins/sdk"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestConfig(t *testing.T) {
	cfg := sdk.Config{"n": {"12"}, "bad": {"x"}, "b": {"true"}, "list": {"a", "b"}, "empty": {}}
	tests := []struct {
		name string
		got  func() (any, error)
		want any
		err  string
	}{
		{"int", func() (any, error) { return cfg.Int("n", 3) }, 12, ""},
		{"int default", func() (any, error) { return cfg.Int("missing", 3) }, 3, ""},
		{"int empty is default", func() (any, error) { return cfg.Int("empty", 3) }, 3, ""},
		{"int bad", func() (any, error) { return cfg.Int("bad", 3) }, 0, `bad: "x" is not a whole number`},
		{"bool", func() (any, error) { return cfg.Bool("b", false) }, true, ""},
		{"bool bad", func() (any, error) { return cfg.Bool("bad", false) }, false, `bad: "x" is not true or false`},
		{"string", func() (any, error) { return cfg.String("list", "d"), nil }, "a", ""},
		{"string default", func() (any, error) { return cfg.String("missing", "d"), nil }, "d", ""},
		{"strings", func() (any, error) { return strings.Join(cfg.Strings("list"), ","), nil }, "a,b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.got()
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

type fake struct {
	name string
	fail error
	cfg  sdk.Config
}

func (f *fake) Info() sdk.Info {
	return sdk.Info{Name: f.name, Version: "1", Config: []sdk.ConfigKey{{Name: "k"}}}
}
func (f *fake) Configure(cfg sdk.Config) error { f.cfg = cfg; return nil }
func (f *fake) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	if f.fail != nil {
		return f.fail
	}
	for i := range b.Results {
		out.Partner(i, audit.Info, f.name+" at "+b.Now.Format(time.DateOnly)+" k="+f.cfg.String("k", "-"), "")
	}
	for i := range b.PrivateRoots {
		out.PrivateRoot(i, audit.Warning, "root", "")
	}
	return nil
}

func TestServer(t *testing.T) {
	ctx := context.Background()
	srv := sdk.NewServer(&fake{name: "one"}, &fake{name: "two", fail: errors.New("no good")})
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	req := &checkspb.CheckRequest{Now: checkspb.Timestamp(now),
		Results:      []*checkspb.Result{checkspb.EncodeResult(&audit.Result{Partner: audit.Partner{Name: "p"}})},
		PrivateRoots: []*checkspb.PrivateRoot{{Subject: "CN=R"}}}

	if _, err := srv.Check(ctx, req); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Check before Configure = %v, want FailedPrecondition", err)
	}
	for _, tt := range []struct {
		name string
		req  *checkspb.ConfigureRequest
		want string
	}{
		{"unknown check", &checkspb.ConfigureRequest{Checks: []*checkspb.CheckConfig{{Name: "three"}}}, `no check named "three" here`},
		{"unknown key", &checkspb.ConfigureRequest{Checks: []*checkspb.CheckConfig{{Name: "one", Settings: []*checkspb.Setting{{Key: "j"}}}}}, `check one: unknown setting "j"`},
	} {
		_, err := srv.Configure(ctx, tt.req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Configure = %v, want InvalidArgument %q", tt.name, err, tt.want)
		}
	}
	if _, err := srv.Configure(ctx, &checkspb.ConfigureRequest{Checks: []*checkspb.CheckConfig{
		{Name: "one", Settings: []*checkspb.Setting{{Key: "k", Values: []string{"v"}}}}, {Name: "two"}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Findings) != 2 || resp.Findings[0].Message != "one at 2026-03-01 k=v" || resp.Findings[0].Partner != "p" ||
		resp.Findings[0].GetResult() != 0 || resp.Findings[1].GetPrivateRoot() != 0 || resp.Findings[1].Check != "one" {
		t.Errorf("findings = %v", resp.Findings)
	}
	if len(resp.Errors) != 1 || resp.Errors[0].Check != "two" || resp.Errors[0].Message != "no good" {
		t.Errorf("errors = %v, want check two: no good", resp.Errors)
	}
	d, _ := srv.Describe(ctx, &checkspb.DescribeRequest{})
	if len(d.Checks) != 2 || d.Checks[1].Name != "two" || d.Checks[0].Config[0].Name != "k" {
		t.Errorf("Describe = %v", d)
	}
}
