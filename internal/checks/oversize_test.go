package checks_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks"
)

// TestOversizedResults sends results of 5 MiB to a real plugin: one whose
// bulk is its SMTP transcript (a server that talked too much) is trimmed
// and checked; one whose bulk is its chain cannot be sent, gets a
// CheckFailed finding and is counted; the partners around them are checked.
func TestOversizedResults(t *testing.T) {
	dir := pluginDir(t, "echo")
	paths, _ := checks.Discover([]string{dir})
	h := checks.Open(context.Background(), checks.Options{Plugins: paths, Logger: slog.New(&logSink{})})
	defer h.Close()

	line := "S: 250-" + strings.Repeat("x", 93) // 100 bytes
	transcript := make([]string, 5<<20/100)
	for i := range transcript {
		transcript[i] = line
	}
	transcript[len(transcript)-1] = "S: 221 2.0.0 last line"
	bigChain := make([]audit.Cert, 5)
	for i := range bigChain {
		bigChain[i] = audit.Cert{Subject: "CN=huge", DER: bytes.Repeat([]byte{0x30}, 1<<20+1)}
	}
	p := func(name string) audit.Result {
		return audit.Result{Partner: audit.Partner{Name: name, Host: "mx." + name + ".test", Port: 25},
			Verdict: audit.Valid, Verdicts: []audit.Verdict{audit.Valid}}
	}
	talker, huge := p("talker"), p("huge")
	talker.SMTP.Transcript = transcript
	huge.Chain = bigChain
	res := &audit.Results{Started: now, Partners: []audit.Result{p("a"), talker, p("b"), huge, p("c")}}

	if err := h.Check(context.Background(), res, checks.Selection{Only: []string{"echo"}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Partners {
		failed := findings(&r, checks.CheckFailed)
		switch r.Name {
		case "huge":
			if len(failed) != 1 || !strings.Contains(failed[0].Message, "not sent to the plugin: the result is 5.0 MiB even trimmed, a plugin accepts at most 4 MiB") {
				t.Errorf("huge: CheckFailed %+v", failed)
			}
			if len(sawPartner(&r)) != 0 {
				t.Error("huge was checked although it cannot be sent")
			}
		default:
			if len(failed) != 0 || len(sawPartner(&r)) != 1 {
				t.Errorf("%s: CheckFailed %+v, echo %+v; want checked", r.Name, failed, sawPartner(&r))
			}
		}
	}
	if len(res.Partners[1].SMTP.Transcript) != len(transcript) {
		t.Error("trimming changed the results themselves")
	}
	want := checks.Stats{FailedPlugins: 1, FailedCalls: 1, Unchecked: 1, Unsendable: 1, Trimmed: 1}
	if got := h.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}
