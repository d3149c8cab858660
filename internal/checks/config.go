package checks

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/regfile"
)

// Config holds per-check settings: check name, then key, then values (one
// for a scalar, several for an array).
type Config map[string]map[string][]string

// LoadConfig reads the per-check settings of a TOML config file, a table per check:
//
//	[checks.allowed-ca]
//	issuers = ["CN=Example CA,O=Example", "CN=R11,O=Let's Encrypt,C=US"]
//
// Other top-level tables are ignored (they belong to other parts of mxaudit).
// Only a regular file of at most regfile.MaxConfig bytes is read. LoadFile
// also reads the [thresholds] table.
func LoadConfig(path string) (Config, error) {
	doc, err := decode(path)
	if err != nil {
		return nil, err
	}
	return doc.checks(path)
}

// configDoc is the part of the config file the check stage reads.
type configDoc struct {
	Checks     map[string]map[string]any `toml:"checks"`
	Thresholds map[string]any            `toml:"thresholds"`
}

func decode(path string) (*configDoc, error) {
	var doc configDoc
	b, err := regfile.Read(path, regfile.MaxConfig)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if _, err := toml.Decode(string(b), &doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &doc, nil
}

func (doc *configDoc) checks(path string) (Config, error) {
	cfg := Config{}
	for _, name := range sortedKeys(doc.Checks) {
		cfg[name] = map[string][]string{}
		for _, key := range sortedKeys(doc.Checks[name]) {
			vals, err := settingValues(doc.Checks[name][key])
			if err != nil {
				return nil, fmt.Errorf("config %s: [checks.%s] %s: %w", path, name, key, err)
			}
			cfg[name][key] = vals
		}
	}
	return cfg, nil
}

// File is what the --config file says to a run beside its [scan] flags:
// each check's settings and the thresholds the run is graded by.
type File struct {
	Checks     Config
	Thresholds audit.Thresholds
	// Warnings name each deprecated key the file still uses and the
	// threshold it was mapped onto, one sentence each.
	Warnings []string
}

// deprecatedKeys are the check settings that became thresholds: each is
// still read, with a warning, as the threshold it names.
var deprecatedKeys = []struct{ check, key, threshold string }{
	{"weak-key", "min_rsa_bits", "min_rsa_bits"},
	{"weak-key", "min_ec_bits", "min_ec_bits"},
	{"expiry", "warning_days", "expiry_warning_days"},
	{"expiry", "error_days", "expiry_error_days"},
	{"private-root", "expiring_days", "root_expiring_days"},
}

// LoadFile reads the [checks.NAME] tables and the [thresholds] table
// (audit.ThresholdKeys; the defaults for what it leaves out) of a TOML
// config file. The check settings that were thresholds before
// ([checks.weak-key] min_rsa_bits and min_ec_bits, [checks.expiry]
// warning_days and error_days, [checks.private-root] expiring_days) are
// taken as those thresholds with a warning; one given in both places with
// two values is an error, as is an unknown threshold or a value that is
// not a whole number.
func LoadFile(path string) (File, error) {
	doc, err := decode(path)
	if err != nil {
		return File{}, err
	}
	f := File{Thresholds: audit.DefaultThresholds()}
	if f.Checks, err = doc.checks(path); err != nil {
		return File{}, err
	}
	set := map[string]int{}
	for _, key := range sortedKeys(doc.Thresholds) {
		n, err := wholeNumber(doc.Thresholds[key])
		if err == nil {
			err = f.Thresholds.Set(key, n)
		}
		if err != nil {
			return File{}, fmt.Errorf("config %s: [thresholds] %s: %w", path, key, err)
		}
		set[key] = n
	}
	for _, d := range deprecatedKeys {
		vals, ok := f.Checks[d.check][d.key]
		if !ok {
			continue
		}
		where := fmt.Sprintf("[checks.%s] %s", d.check, d.key)
		n, err := strconv.Atoi(first(vals))
		if err != nil {
			return File{}, fmt.Errorf("config %s: %s: %q is not a whole number", path, where, first(vals))
		}
		if old, ok := set[d.threshold]; ok && old != n {
			return File{}, fmt.Errorf("config %s: %s = %d and [thresholds] %s = %d disagree: keep only [thresholds] %s", path, where, n, d.threshold, old, d.threshold)
		}
		set[d.threshold] = n
		_ = f.Thresholds.Set(d.threshold, n) // a key of audit.ThresholdKeys
		f.Warnings = append(f.Warnings, fmt.Sprintf("config %s: %s is deprecated: read as [thresholds] %s = %d, which the verdicts, the checks and the reports share; move it there", path, where, d.threshold, n))
		delete(f.Checks[d.check], d.key)
		if len(f.Checks[d.check]) == 0 {
			delete(f.Checks, d.check)
		}
	}
	if err := f.Thresholds.Validate(); err != nil {
		return File{}, fmt.Errorf("config %s: [thresholds]: %w", path, err)
	}
	return f, nil
}

// wholeNumber reads a TOML integer (or a string holding one).
func wholeNumber(v any) (int, error) {
	switch v := v.(type) {
	case int64:
		return int(v), nil
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%v is not a whole number", v)
}

func first(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	return vals[0]
}

// settingValues flattens a TOML scalar or array of scalars into strings.
func settingValues(v any) ([]string, error) {
	switch v := v.(type) {
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, err := scalar(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("a table (keys %v); a check setting is a value or an array of values", keys)
	}
	s, err := scalar(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func scalar(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	}
	return "", fmt.Errorf("unsupported value %v (%T)", v, v)
}
