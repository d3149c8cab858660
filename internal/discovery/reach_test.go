package discovery_test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/internal/discovery"
)

// needTool skips a test when an external tool is missing, except under CI.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is needed (CI=true): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

func TestRoutableTo(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := discovery.RoutableTo(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("RoutableTo(%s) = %v", tt.addr, got)
			}
		})
	}
}

// Reachable agrees with what `ip route get` says of the same addresses.
func TestReachableAgreesWithIPRoute(t *testing.T) {
	ip := needTool(t, "ip")
	got := discovery.Reachable()
	for _, tt := range []struct {
		family, addr string
		reach        bool
	}{{"-4", "198.51.100.1", got.V4}, {"-6", "2001:db8::1", got.V6}} {
		err := exec.Command(ip, tt.family, "route", "get", tt.addr).Run()
		if (err == nil) != tt.reach {
			t.Errorf("ip %s route get %s: %v; Reachable says %v", tt.family, tt.addr, err, tt.reach)
		}
	}
}

// In a network namespace of its own (no routes, loopback down) nothing is reachable.
func TestReachableWithoutRoutes(t *testing.T) {
	if os.Getenv("MXAUDIT_REACH_CHILD") == "1" {
		r := discovery.Reachable()
		fmt.Printf("reach v4=%v v6=%v untested=%s\n", r.V4, r.V6, strings.Join(r.Untested(), ","))
		return
	}
	unshare := needTool(t, "unshare")
	cmd := exec.Command(unshare, "--net", os.Args[0], "-test.run=^TestReachableWithoutRoutes$", "-test.v")
	cmd.Env = append(os.Environ(), "MXAUDIT_REACH_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("unshare --net: %v\n%s", err, out)
		}
		t.Skipf("cannot make a network namespace here: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "reach v4=false v6=false untested=IPv4,IPv6") {
		t.Errorf("in an empty namespace:\n%s", out)
	}
}
