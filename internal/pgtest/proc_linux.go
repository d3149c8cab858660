package pgtest

import (
	"os/exec"
	"syscall"
)

// setCredentials runs cmd as uid:gid (unless uid is -1) and makes the kernel
// send it SIGQUIT (PostgreSQL's immediate shutdown) when the test binary
// dies, so a killed test run leaves no server behind.
func setCredentials(cmd *exec.Cmd, uid, gid int) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
	if uid >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
}
