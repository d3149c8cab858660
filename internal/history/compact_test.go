package history

import (
	"context"
	"maps"
	"strings"
	"testing"
)

func TestTimingsEncoding(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]int64
		want string
	}{
		{"none", nil, ""},
		{"all phases", map[string]int64{"connect": 1, "greeting": 20, "ehlo": 3, "starttls": 4, "handshake": 50, "ehlo_tls": 6}, "1,20,3,4,50,6"},
		{"stopped at the greeting", map[string]int64{"connect": 1, "greeting": 6000}, "1,6000"},
		{"a gap", map[string]int64{"connect": 1, "handshake": 0}, "1,,,,0"},
		{"unknown phase falls back to JSON", map[string]int64{"connect": 1, "dane": 2}, `{"connect":1,"dane":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeTimings(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("encodeTimings = %q, %v; want %q", got, err, tt.want)
			}
			back, err := decodeTimings(got)
			if err != nil || !maps.Equal(back, tt.in) {
				t.Errorf("decodeTimings(%q) = %v, %v", got, back, err)
			}
		})
	}
	if _, err := decodeTimings("1,2,3,4,5,6,7"); err == nil {
		t.Error("decodeTimings accepted seven fields")
	}
}

// TestBodiesAreCompactAndShared checks the two things that keep the
// database small: chain certificates are stored once (not in the result
// bodies), and a partner whose result did not change shares its body.
func TestBodiesAreCompactAndShared(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		runs := fleetRuns()
		record(t, db, runs[1])
		record(t, db, runs[2]) // the same results one night later
		var bodies, results, certs int
		db.c().QueryRowContext(context.Background(), `SELECT count(*) FROM bodies`).Scan(&bodies)
		db.c().QueryRowContext(context.Background(), `SELECT count(*) FROM results`).Scan(&results)
		db.c().QueryRowContext(context.Background(), `SELECT count(*) FROM certs`).Scan(&certs)
		if bodies != len(runs[1].Partners) || results != 2*len(runs[1].Partners) {
			t.Errorf("%d bodies for %d results of two identical runs", bodies, results)
		}
		if certs != 8 { // 5 leaves and 3 CAs in run 2
			t.Errorf("%d certificates stored", certs)
		}
		var doc []byte
		db.c().QueryRowContext(context.Background(), `SELECT b.doc FROM bodies b JOIN results r ON r.body_id = b.id WHERE r.run_id = 1 AND r.seq = 0`).Scan(&doc)
		j, err := inflate(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(j), `"sha1":"",`) || !strings.Contains(string(j), `"x_compact_chain":[0,1]`) {
			t.Errorf("body holds chain details:\n%s", j)
		}
	})
}
