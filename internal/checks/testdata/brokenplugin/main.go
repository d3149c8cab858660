// Command brokenplugin is a check plugin that misbehaves in the way its
// file name says: mxaudit-check-crash, -hang, -badversion or -garbage (see
// package plugintest). End-to-end tests build it once and link it under each name.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mxaudit/mxaudit/internal/checks/plugintest"
)

func main() {
	mode := strings.TrimPrefix(filepath.Base(os.Args[0]), "mxaudit-check-")
	if !plugintest.Serve(mode) {
		fmt.Fprintln(os.Stderr, "brokenplugin: unknown mode", mode)
		os.Exit(2)
	}
}
