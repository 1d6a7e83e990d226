//go:build !linux

package runners

import (
	"errors"
	"net/netip"
)

// ListeningAddrs is only implemented on Linux, where /proc lists sockets.
func ListeningAddrs(pid int) ([]netip.AddrPort, error) {
	return nil, errors.New("listing a process's listening sockets needs Linux's /proc")
}
