//go:build linux && (amd64 || arm64)

package sipfront

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux a UDP reader takes every datagram already queued with one
// recvmmsg and sends the responses to them with one sendmmsg, through
// the network poller (syscall.RawConn): under load one wake-up and two
// system calls serve a whole batch instead of each datagram costing a
// receive, a send and a receive that finds nothing.

// mmsghdr is struct mmsghdr of the 64-bit Linux ABIs.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// batchSize bounds the datagrams one recvmmsg returns, and so the
// buffers each reader holds (at most 4 MB with the largest datagrams).
func batchSize(maxBytes int) int {
	return max(1, min(32, (4<<20)/(maxBytes+1)))
}

// batch is one reader's buffers.
type batch struct {
	msgs  []mmsghdr
	iovs  []unix.Iovec
	bufs  [][]byte
	names []unix.RawSockaddrAny
	// Responses waiting for sendmmsg: their bytes in out, their slices
	// and destinations per message.
	out   []byte
	ends  []int
	dsts  []unix.RawSockaddrInet6
	smsgs []mmsghdr
	siovs []unix.Iovec
	sent  int
	// family is the socket's address family, which the destinations
	// are written in.
	family int
}

func newBatch(n, size int) *batch {
	b := &batch{msgs: make([]mmsghdr, n), iovs: make([]unix.Iovec, n), bufs: make([][]byte, n),
		names: make([]unix.RawSockaddrAny, n), out: make([]byte, 0, n*512),
		dsts: make([]unix.RawSockaddrInet6, n), smsgs: make([]mmsghdr, n), siovs: make([]unix.Iovec, n)}
	for i := range b.msgs {
		b.bufs[i] = make([]byte, size)
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(size)
		b.msgs[i].hdr.Iov = &b.iovs[i]
		b.msgs[i].hdr.SetIovlen(1)
		b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	return b
}

// recv reads the datagrams queued on fd, without waiting.
func (b *batch) recv(fd uintptr) (int, syscall.Errno) {
	for i := range b.msgs {
		b.msgs[i].hdr.Namelen = unix.SizeofSockaddrAny
		b.msgs[i].hdr.Flags = 0
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(len(b.msgs)), unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

// source is where datagram i came from.
func (b *batch) source(i int) netip.AddrPort {
	switch b.names[i].Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&b.names[i]))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&b.names[i]))
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(a, ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

// queue keeps a response for the next flush; one the socket's family
// cannot address is dropped, as a send to it would fail.
func (b *batch) queue(resp []byte, dst netip.AddrPort) {
	i := len(b.ends)
	if i == len(b.dsts) {
		return
	}
	sa := &b.dsts[i]
	*sa = unix.RawSockaddrInet6{}
	a := dst.Addr()
	if b.family == unix.AF_INET {
		if a = a.Unmap(); !a.Is4() {
			return
		}
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		s4.Family = unix.AF_INET
		s4.Port = htons(dst.Port())
		s4.Addr = a.As4()
		b.smsgs[i].hdr.Namelen = unix.SizeofSockaddrInet4
	} else {
		sa.Family = unix.AF_INET6
		sa.Port = htons(dst.Port())
		sa.Addr = a.As16()
		if z := a.Zone(); z != "" {
			id, err := strconv.ParseUint(z, 10, 32)
			if err != nil {
				ifc, ierr := net.InterfaceByName(z)
				if ierr != nil {
					return
				}
				id = uint64(ifc.Index)
			}
			sa.Scope_id = uint32(id)
		}
		b.smsgs[i].hdr.Namelen = unix.SizeofSockaddrInet6
	}
	b.out = append(b.out, resp...)
	b.ends = append(b.ends, len(b.out))
}

// flush sends the queued responses, skipping one the kernel refuses.
func (b *batch) flush(rc syscall.RawConn) {
	n := len(b.ends)
	if n == 0 {
		return
	}
	start := 0
	for i := 0; i < n; i++ {
		m := &b.smsgs[i]
		m.hdr.Name = (*byte)(unsafe.Pointer(&b.dsts[i]))
		b.siovs[i].Base = &b.out[start]
		b.siovs[i].SetLen(b.ends[i] - start)
		m.hdr.Iov = &b.siovs[i]
		m.hdr.SetIovlen(1)
		start = b.ends[i]
	}
	b.sent = 0
	for b.sent < n {
		if rc.Write(b.send) != nil {
			break // closed
		}
	}
	b.out, b.ends = b.out[:0], b.ends[:0]
}

// send is flush's step under the poller: false waits for the socket
// to be writable.
func (b *batch) send(fd uintptr) bool {
	n := len(b.ends)
	for b.sent < n {
		k, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.smsgs[b.sent])), uintptr(n-b.sent), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == unix.EAGAIN:
			return false
		case errno == unix.EINTR:
		case errno != 0:
			b.sent++ // the first unsent one failed: drop it
		default:
			b.sent += int(k)
		}
	}
	return true
}

func htons(p uint16) uint16 {
	var b [2]byte
	b[0], b[1] = byte(p>>8), byte(p)
	return *(*uint16)(unsafe.Pointer(&b))
}

func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// readUDP serves one reader of uc until it is closed: the one waiting
// for datagrams, or a helper that reads only while a backlog lasts
// (udpReaders). In proxy mode each response goes out before the next
// datagram is handled, so it keeps its order with what the proxy sends
// itself.
func (s *Server) readUDP(ctx context.Context, uc *net.UDPConn, rs *udpReaders, helper bool) {
	rc, err := uc.SyscallConn()
	if err != nil {
		s.readUDPEach(ctx, uc)
		return
	}
	w := s.newWorker()
	w.udp = uc
	bt := newBatch(batchSize(s.cfg.Limit.MaxMessageBytes), s.cfg.Limit.MaxMessageBytes+1)
	bt.family = unix.AF_INET
	_ = rc.Control(func(fd uintptr) {
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			if _, ok := sa.(*unix.SockaddrInet6); ok {
				bt.family = unix.AF_INET6
			}
		}
	})
	var n int
	var errno syscall.Errno
	// The reader that waits on the socket serves a batch that emptied
	// the socket's queue (fewer datagrams than the batch takes) before
	// giving up the poller, and then waits for the next datagram without
	// the receive that would only find nothing: a datagram that arrives
	// in the meantime marks the socket readable, and the wait returns at
	// once. Not where another reader must be able to read the socket
	// while this one is busy: when screening waits on the network, and in
	// proxy mode.
	inline := !helper && !s.waits && s.proxy == nil
	recv := func(fd uintptr) bool {
		n, errno = bt.recv(fd)
		if inline && errno == 0 && n > 0 && n < len(bt.msgs) {
			s.serveBatch(ctx, w, bt, rc, n)
			return false
		}
		// A helper never waits on the socket: it goes back to waiting
		// for a backlog.
		return helper || errno != unix.EAGAIN
	}
	idle := helper
	for {
		if idle {
			select {
			case <-rs.help:
			case <-rs.each:
				s.readUDPEach(ctx, uc)
				return
			case <-ctx.Done():
				return
			}
		}
		if err := rc.Read(recv); err != nil {
			return // closed
		}
		switch errno {
		case 0:
		case unix.ENOSYS, unix.EPERM:
			// No recvmmsg here (an old kernel or a sandbox's filter).
			rs.fallBack()
			s.readUDPEach(ctx, uc)
			return
		case unix.EAGAIN:
			idle = helper
			continue
		default:
			continue
		}
		idle = false
		if n == len(bt.msgs) {
			// More may wait than one batch takes: another reader helps.
			rs.backlog()
		}
		s.serveBatch(ctx, w, bt, rc, n)
	}
}

// serveBatch handles the n datagrams of bt and sends the responses.
func (s *Server) serveBatch(ctx context.Context, w *worker, bt *batch, rc syscall.RawConn, n int) {
	for i := 0; i < n; i++ {
		size, src := int(bt.msgs[i].n), bt.source(i)
		if !s.admit(size, src) {
			continue
		}
		if resp, dst := w.handleSafe(ctx, bt.bufs[i][:size], src, "udp"); resp != nil {
			bt.queue(resp, dst)
			if s.proxy != nil {
				bt.flush(rc)
			}
		}
	}
	bt.flush(rc)
}
