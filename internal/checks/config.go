package checks

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/mxaudit/mxaudit/internal/regfile"
)

// Config holds per-check settings: check name, then key, then values (one
// for a scalar, several for an array).
type Config map[string]map[string][]string

// LoadConfig reads a TOML config file with a table per check:
//
//	[checks.expiry]
//	warning_days = 30
//	[checks.allowed-ca]
//	issuers = ["CN=Example CA,O=Example", "CN=R11,O=Let's Encrypt,C=US"]
//
// Other top-level tables are ignored (they belong to other parts of mxaudit).
// Only a regular file of at most regfile.MaxConfig bytes is read.
func LoadConfig(path string) (Config, error) {
	var doc struct {
		Checks map[string]map[string]any `toml:"checks"`
	}
	b, err := regfile.Read(path, regfile.MaxConfig)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if _, err := toml.Decode(string(b), &doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
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
