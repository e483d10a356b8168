// Kernel options the outer UDP socket is opened with: large buffers, don't-fragment, and the
// probes for the UDP offloads (UDP_SEGMENT on send, UDP_GRO on receive). Each function states
// what it verified, so UdpSocket reports what the kernel really gave, not what was asked.
#pragma once

namespace sluice::platform {

// As wireguard-go: large enough to absorb bursts of 128-datagram batches at line rate.
inline constexpr int kUdpSocketBufferBytes = 7 << 20;

struct SocketBufferSizes {
  int receive_bytes = 0;  // SO_RCVBUF as getsockopt reports it (the kernel doubles the request)
  int send_bytes = 0;     // SO_SNDBUF, likewise
};

// Asks for kUdpSocketBufferBytes both ways: SO_*BUFFORCE first (needs CAP_NET_ADMIN, passes
// net.core.{r,w}mem_max), then the plain option (capped at that limit). Returns what the kernel
// then reports; a refusal is logged at debug and leaves the default.
SocketBufferSizes raise_socket_buffers(int fd);

// Sets IP_PMTUDISC_DO (for IPv4 and, on an AF_INET6 socket, its v4-mapped traffic) and, on an
// AF_INET6 socket, IPV6_PMTUDISC_DO plus IPV6_DONTFRAG, so the kernel never fragments our
// datagrams: one larger than the path MTU fails with EMSGSIZE instead. True only when
// getsockopt reads every value back as set.
bool set_dont_fragment(int fd, int family);

// True when the kernel knows UDP_SEGMENT (Linux >= 4.18). Only probes (getsockopt): no
// socket-wide segment size is set, so datagrams without a UDP_SEGMENT cmsg are sent whole.
bool probe_udp_segment(int fd);

// Turns on UDP_GRO (Linux >= 5.0): the kernel may then deliver several datagrams of one flow
// as one coalesced read, with their segment size in a UDP_GRO cmsg. True if the kernel took it.
bool enable_udp_gro(int fd);

}  // namespace sluice::platform
