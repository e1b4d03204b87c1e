package vici

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// presetSocketMode sets mode 0600 on the socket before bind: on Linux the
// mode of the socket inode becomes the mode of the file bind creates (minus
// the umask), so the control socket is never reachable with looser
// permissions, not even between bind and chmod.
func presetSocketMode(_, _ string, rc syscall.RawConn) error {
	var err error
	if cerr := rc.Control(func(fd uintptr) { err = syscall.Fchmod(int(fd), 0o600) }); cerr != nil {
		return cerr
	}
	return err
}

// unreadBytes returns how many bytes written to a Unix stream socket the
// peer has not read yet (SIOCOUTQ counts them until the receiver consumes
// them). ok is false where that cannot be known.
func unreadBytes(c net.Conn) (n int, ok bool) {
	sc, isSys := c.(syscall.Conn)
	if !isSys {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); err != nil || ierr != nil {
		return 0, false
	}
	return n, true
}
