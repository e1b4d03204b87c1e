package lab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// StopTimeout is how long Process.Stop waits after SIGTERM before SIGKILL.
const StopTimeout = 5 * time.Second

var timeAfter = time.After

// Children get SIGKILL when their parent dies (PR_SET_PDEATHSIG), so a test
// binary killed by a timeout does not leave charon or iperf3 running. Linux
// delivers the signal when the *thread* that forked exits, and the Go
// runtime ends threads whose goroutine exits while locked (which Do does on
// purpose when it cannot switch a thread back), so every child is forked
// from one goroutine locked to a thread that lives as long as the process.
var (
	spawnOnce sync.Once
	spawnReq  chan spawnRequest
)

type spawnRequest struct {
	cmd  *exec.Cmd
	errc chan error
}

// StartCmd starts cmd like cmd.Start, with SIGKILL as its parent-death
// signal. Commands made with Namespace.Command should be started this way.
func StartCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReq = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread must not exit
			for r := range spawnReq {
				r.errc <- r.cmd.Start()
			}
		}()
	})
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	errc := make(chan error, 1)
	spawnReq <- spawnRequest{cmd: cmd, errc: errc}
	return <-errc
}

// runOutput runs cmd to completion (started through StartCmd) and returns
// its combined output; what names the command in the error, which carries
// the output too.
func runOutput(cmd *exec.Cmd, what string) ([]byte, error) {
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := StartCmd(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return buf.Bytes(), fmt.Errorf("lab: %s: %w: %s", what, err, strings.TrimSpace(buf.String()))
	}
	return buf.Bytes(), nil
}

// ip runs the ip tool in the caller's namespace; the error carries its output.
func ip(ctx context.Context, args ...string) error {
	_, err := runOutput(exec.CommandContext(ctx, "ip", args...), "ip "+strings.Join(args, " "))
	return err
}
