// Package lab builds throwaway Linux network topologies for integration tests
// and for `goipsec demo`: network namespaces joined by veth pairs, commands and
// background processes inside them, Go code with sockets inside them, traffic
// generators, and strongSwan's charon as a peer (DESIGN.md, "strongSwan as a
// test peer").
//
// Everything here needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and the `ip`
// tool from iproute2. Namespace names are unique (prefix-<random>), so tests
// may run concurrently. Processes are only ever signalled by PID, never by
// name, and they are started with PR_SET_PDEATHSIG so that they die with the
// test binary even when it is killed before its cleanups run.
//
// Tests gate themselves with the sub-package labtest (RequireRoot,
// RequireStrongSwan), which keeps package testing out of non-test binaries.
package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/vishvananda/netns"
)

// ErrClosed is returned by operations on a Namespace after Close.
var ErrClosed = errors.New("lab: namespace closed")

// CheckRoot reports why this process cannot build namespaces, or nil if it
// can: it must be root and `ip netns` must work.
func CheckRoot() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("lab: need root for network namespaces (euid %d)", os.Geteuid())
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return fmt.Errorf("lab: iproute2 `ip` not found: %w", err)
	}
	if out, err := exec.Command(ip, "netns", "list").CombinedOutput(); err != nil {
		return fmt.Errorf("lab: `ip netns list` failed: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Namespace is a Linux network namespace created for a test or the demo
// (named with `ip netns add`, so `ip netns exec NAME` reaches it), deleted by
// Close.
type Namespace struct {
	Name string

	mu     sync.Mutex
	procs  []*Process
	closed bool
}

// NewNamespace creates a network namespace named prefix-<random hex> and
// brings its loopback interface up.
func NewNamespace(prefix string) (*Namespace, error) {
	if prefix == "" || strings.ContainsAny(prefix, "/ \t\n\x00") || len(prefix) > 64 {
		return nil, fmt.Errorf("lab: bad namespace prefix %q", prefix)
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("lab: random namespace name: %w", err)
	}
	ns := &Namespace{Name: prefix + "-" + hex.EncodeToString(rnd[:])}
	if err := ip(context.Background(), "netns", "add", ns.Name); err != nil {
		return nil, err
	}
	if err := ip(context.Background(), "-n", ns.Name, "link", "set", "lo", "up"); err != nil {
		return nil, errors.Join(err, ns.Close())
	}
	return ns, nil
}

// String returns the namespace name.
func (ns *Namespace) String() string { return ns.Name }

// Close stops every Process started in the namespace (by PID: SIGTERM, then
// SIGKILL after 5 s) and deletes the namespace, which destroys its veth and
// dummy interfaces. Close is idempotent; a namespace that was already
// deleted by someone else is not an error.
func (ns *Namespace) Close() error {
	ns.mu.Lock()
	if ns.closed {
		ns.mu.Unlock()
		return nil
	}
	ns.closed = true
	procs := ns.procs
	ns.procs = nil
	ns.mu.Unlock()

	var errs []error
	for _, p := range procs {
		if err := p.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such file") {
		errs = append(errs, fmt.Errorf("lab: ip netns del %s: %w: %s", ns.Name, err, strings.TrimSpace(string(out))))
	}
	return errors.Join(errs...)
}

// Command returns an unstarted `ip netns exec NAME argv...` command. Start it
// with StartCmd so it gets the same parent-death signal as Start's
// processes.
func (ns *Namespace) Command(ctx context.Context, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name}, argv...)...)
}

// Run runs argv in the namespace (`ip netns exec NAME argv...`) and returns
// its combined output; on failure the error carries the output too.
func (ns *Namespace) Run(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("lab: Run: empty command")
	}
	if ns.isClosed() {
		return nil, ErrClosed
	}
	return runOutput(ns.Command(ctx, argv...), ns.Name+": "+strings.Join(argv, " "))
}

// Start starts argv in the background inside the namespace with stdout and
// stderr appended to logPath (created if missing). Close stops it.
func (ns *Namespace) Start(logPath string, argv ...string) (*Process, error) {
	if len(argv) == 0 {
		return nil, errors.New("lab: Start: empty command")
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab: open process log: %w", err)
	}
	defer f.Close() // the child has its own copy of the descriptor
	cmd := ns.Command(context.Background(), argv...)
	cmd.Stdout = f
	cmd.Stderr = f

	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.closed {
		return nil, ErrClosed
	}
	if err := StartCmd(cmd); err != nil {
		return nil, fmt.Errorf("lab: %s: start %s: %w", ns.Name, strings.Join(argv, " "), err)
	}
	p := newProcess(cmd)
	ns.procs = append(ns.procs, p)
	return p, nil
}

func (ns *Namespace) isClosed() bool {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.closed
}

// Do runs f on a goroutine locked to an OS thread that has been switched into
// the namespace, then switches the thread back. Sockets that f creates on
// its own goroutine belong to the namespace for their whole life and may be
// used from any goroutine afterwards; goroutines that f starts do not run in
// the namespace. A panic in f is re-raised in the caller.
func (ns *Namespace) Do(f func() error) error {
	if ns.isClosed() {
		return ErrClosed
	}
	type result struct {
		err      error
		panicked bool
		val      any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("lab: get current netns: %w", err)}
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns.Name)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("lab: open netns %s: %w", ns.Name, err)}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("lab: enter netns %s: %w", ns.Name, err)}
			return
		}
		res := result{panicked: true}
		defer func() {
			if res.panicked {
				res.val = recover()
			}
			// A thread we cannot switch back stays locked, so the runtime
			// destroys it when this goroutine exits instead of reusing it.
			if err := netns.Set(orig); err == nil {
				runtime.UnlockOSThread()
			} else if res.err == nil {
				res.err = fmt.Errorf("lab: leave netns %s: %w", ns.Name, err)
			}
			done <- res
		}()
		res.err = f()
		res.panicked = false
	}()
	res := <-done
	if res.panicked {
		if res.val == nil {
			return fmt.Errorf("lab: %s: Do: function called runtime.Goexit", ns.Name)
		}
		panic(res.val)
	}
	return res.err
}

// Process is a background process started by Namespace.Start.
type Process struct {
	Cmd *exec.Cmd

	done     chan struct{} // closed when Wait returned
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

func newProcess(cmd *exec.Cmd) *Process {
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p
}

// PID returns the process ID. `ip netns exec` execs its command, so this is
// the PID of argv[0] itself.
func (p *Process) PID() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit and returns its exit status as an
// error (nil for exit code 0).
func (p *Process) Wait() error {
	<-p.done
	return p.waitErr
}

// Stop sends SIGTERM to the process (by PID), waits up to StopTimeout for it
// to exit, then sends SIGKILL and waits. It returns nil once the process is
// gone, whatever its exit status; it is idempotent.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Process) stop() error {
	if p.Exited() {
		return nil
	}
	// os.Process signals through a pidfd where the kernel has one, so a
	// recycled PID cannot be hit; "already finished" is a harmless race.
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err == nil || errors.Is(err, os.ErrProcessDone) {
		select {
		case <-p.done:
			return nil
		case <-timeAfter(StopTimeout):
		}
	}
	if err := p.Cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("lab: SIGKILL pid %d: %w", p.PID(), err)
	}
	select {
	case <-p.done:
		return nil
	case <-timeAfter(StopTimeout):
		return fmt.Errorf("lab: pid %d (%s) still running after SIGKILL", p.PID(), p.Cmd.Path)
	}
}
