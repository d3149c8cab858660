//go:build !linux

package pgtest

import (
	"os/exec"
	"syscall"
)

// setCredentials runs cmd as uid:gid unless uid is -1.
func setCredentials(cmd *exec.Cmd, uid, gid int) {
	if uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
}
