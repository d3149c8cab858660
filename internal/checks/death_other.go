//go:build !linux

package checks

import "os/exec"

// setDeathSignal does nothing outside Linux; Close and go-plugin's CleanupClients kill plugins there.
func setDeathSignal(*exec.Cmd) {}
