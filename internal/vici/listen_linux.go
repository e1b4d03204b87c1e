package vici

import "syscall"

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
