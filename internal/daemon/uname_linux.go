package daemon

import "golang.org/x/sys/unix"

// uname returns the kernel's name, release and machine (VICI "version").
func uname() (sysname, release, machine string) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "Linux", "", ""
	}
	return unix.ByteSliceToString(u.Sysname[:]), unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:])
}
