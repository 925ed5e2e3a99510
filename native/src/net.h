// Socket and address helpers of the relay: parsing, comparing and printing
// socket addresses, opening a bound non-blocking UDP socket, errno names.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

namespace mr {

// host:port as a sockaddr of `wantFamily` (0: the host's own family; a v4
// host for a v6 socket becomes v4-mapped, as recvmmsg reports it).
bool parseAddr(const std::string& host, int port, sockaddr_storage* out, socklen_t* len, int wantFamily);
// Inline: the relay thread compares every received packet's source with
// the latched or signalled peer.
inline bool sameAddr(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    auto& x = reinterpret_cast<const sockaddr_in&>(a);
    auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port && std::memcmp(&x.sin6_addr, &y.sin6_addr, 16) == 0;
  }
  return false;
}
// v4-mapped addresses print as plain IPv4.
void addrToString(const sockaddr_storage& a, std::string* host, int* port);
// 0 or an errno; on success *fdOut is a bound, non-blocking, close-on-exec socket.
int openSocket(const std::string& host, int port, int* fdOut, int* boundPort);
const char* errnoName(int e);

}  // namespace mr
