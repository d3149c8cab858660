package pipeline

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// postfixDNS is where the test DNS answers Postfix: resolv.conf names no
// port, so it is port 53, on a loopback address of its own.
const postfixDNS = "127.77.0.53"

// postfixMaster is a master.cf for a Postfix that only sends: no smtpd,
// nothing chrooted (the queue directory is a temporary one).
const postfixMaster = `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

// needPostfix skips without Debian's postfix or root (it runs as the
// postfix user it creates, started by root); under CI=true it fails.
func needPostfix(t *testing.T) {
	t.Helper()
	var why string
	switch {
	case os.Geteuid() != 0:
		why = "the real-Postfix test needs root (Postfix's master starts as root)"
	default:
		for _, tool := range []string{"postfix", "postmap", "sendmail", "unshare", "mount"} {
			if _, err := exec.LookPath(tool); err != nil {
				why = tool + " not installed (Debian: apt-get install postfix util-linux)"
			}
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// statusLine is a Postfix delivery log line: the recipient and its status.
var statusLine = regexp.MustCompile(`to=<[^@>]+@([^>]+)>.*status=(sent|deferred|bounced)( \((.*)\))?`)

// TestPostfixOracle sends a message to every partner of the delivery fleet
// through Debian's Postfix, with the same main.cf and policy map mxaudit
// reads, and checks that mxaudit's delivery says what Postfix did: sent
// where it delivers, deferred where it defers. Postfix resolves the MX
// hosts through the test DNS: it runs in a mount namespace of its own whose
// /etc/resolv.conf names the test DNS on 127.77.0.53.
func TestPostfixOracle(t *testing.T) {
	needPostfix(t)
	dir, err := os.MkdirTemp("", "mxaudit-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // the postfix user reads the tafile and maps here
		t.Fatal(err)
	}
	f := newMTAFleet(t, postfixDNS+":53", dir)
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = sender.audit.test
mydomain = audit.test
myorigin = $mydomain
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
maillog_file_prefixes = %[1]s
maillog_file = %[1]s/maillog
smtp_host_lookup = dns
smtp_dns_support_level = dnssec
smtp_tcp_port = %[2]d
smtp_connect_timeout = 5s
smtp_tls_security_level = may
smtp_tls_policy_maps = hash:%[1]s/tls_policy
smtp_tls_CAfile = %[3]s
smtp_tls_loglevel = 1
`, dir, f.port, f.roots)
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "main.cf"), []byte(mainCF), 0o644), "main.cf")
	must(os.WriteFile(filepath.Join(dir, "master.cf"), []byte(postfixMaster), 0o644), "master.cf")
	resolv := filepath.Join(dir, "resolv.conf")
	must(os.WriteFile(resolv, []byte("nameserver "+postfixDNS+"\noptions timeout:2 attempts:2\n"), 0o644), "resolv.conf")
	run := func(name string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		must(err, fmt.Sprintf("%s %s: %s", name, strings.Join(args, " "), out))
	}
	// Postfix creates the queue's subdirectories; the queue and data
	// directories themselves must exist, the latter the postfix user's.
	must(os.Mkdir(filepath.Join(dir, "queue"), 0o755), "queue directory")
	must(os.Mkdir(filepath.Join(dir, "data"), 0o700), "data directory")
	run("chown", "postfix", filepath.Join(dir, "data"))
	run("postmap", "-c", dir, "hash:"+filepath.Join(dir, "tls_policy"))
	run("unshare", "-m", "sh", "-c", `mount --bind "$1" /etc/resolv.conf && exec postfix -c "$2" start`, "sh", resolv, dir)
	t.Cleanup(func() { exec.Command("postfix", "-c", dir, "stop").Run() })

	// mxaudit's answer, from the very files Postfix runs with.
	cfg := f.scanConfig(t)
	cfg.Revocation.Offline = true
	cfg.Hold = true
	res, err := Scan(context.Background(), cfg)
	must(err, "scan")
	mx := map[string]*audit.Delivery{}
	for i := range res.Partners {
		mx[res.Partners[i].Name] = res.Partners[i].Delivery
	}

	var domains []string
	for d := range f.want {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	for _, d := range domains {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "sendmail", "-C", dir, "-f", "audit@audit.test", "-i", "postmaster@"+d)
		cmd.Stdin = strings.NewReader("Subject: mxaudit oracle " + d + "\n\nissue 14\n")
		out, err := cmd.CombinedOutput()
		cancel()
		must(err, "sendmail "+d+": "+string(out))
	}
	got := waitStatus(t, filepath.Join(dir, "maillog"), domains, 60*time.Second)
	t.Logf("| partner | Postfix policy | Postfix log | mxaudit delivery |")
	for _, d := range domains {
		pf, dl := got[d], mx[d]
		if dl == nil {
			t.Errorf("%s: mxaudit has no delivery", d)
			continue
		}
		t.Logf("| %s | %s | status=%s (%s) | %s |", d, dl.Policy, pf.status, clip(pf.why, 90), dl.Outcome)
		want := map[string]string{audit.Delivers: "sent", audit.DeliversUnauthenticated: "sent", audit.Deferred: "deferred", audit.Bounces: "bounced"}[dl.Outcome]
		if pf.status != want {
			t.Errorf("%s: Postfix says status=%s (%s), mxaudit says %s: %s", d, pf.status, pf.why, dl.Outcome, dl.Rule)
		}
		if dl.Outcome != f.want[d] {
			t.Errorf("%s: mxaudit says %s, the fleet was built for %s", d, dl.Outcome, f.want[d])
		}
	}
	var sent int64
	for _, s := range f.servers {
		sent += s.Received()
	}
	var wantSent int64
	for _, d := range domains {
		if got[d].status == "sent" {
			wantSent++
		}
	}
	if sent != wantSent {
		t.Errorf("the partners' servers took %d messages, Postfix logged %d sent", sent, wantSent)
	}
}

type pfStatus struct{ status, why string }

// waitStatus reads Postfix's log until every domain has a delivery status.
func waitStatus(t *testing.T, logFile string, domains []string, limit time.Duration) map[string]pfStatus {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := map[string]pfStatus{}
		if fh, err := os.Open(logFile); err == nil {
			sc := bufio.NewScanner(fh)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				if m := statusLine.FindStringSubmatch(sc.Text()); m != nil {
					if _, seen := got[m[1]]; !seen {
						got[m[1]] = pfStatus{m[2], m[4]}
					}
				}
			}
			fh.Close()
		}
		missing := 0
		for _, d := range domains {
			if _, ok := got[d]; !ok {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("Postfix logged no status for %d of %d partners in %s; its log:\n%s", missing, len(domains), limit, clip(string(log), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
