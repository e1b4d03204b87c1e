package main

import (
	"fmt"
	"runtime"

	"github.com/goipsec/goipsec/internal/daemon"
)

func runVersion([]string) error {
	fmt.Printf("goipsec %s (%s, %s/%s)\n", daemon.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
