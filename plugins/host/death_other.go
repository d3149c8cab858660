//go:build !linux

package host

import "os/exec"

// setDeathSignal does nothing outside Linux; Close and go-plugin's CleanupClients kill plugins there.
func setDeathSignal(*exec.Cmd) {}
