// Socket and address helpers of the relay: parsing, comparing and printing
// socket addresses, opening a bound non-blocking UDP socket, errno names.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

namespace mr {

// host:port as a sockaddr of `wantFamily` (0: the host's own family; a v4
// host for a v6 socket becomes v4-mapped, as recvmmsg reports it).
bool parseAddr(const std::string& host, int port, sockaddr_storage* out, socklen_t* len, int wantFamily);
bool sameAddr(const sockaddr_storage& a, const sockaddr_storage& b);
// v4-mapped addresses print as plain IPv4.
void addrToString(const sockaddr_storage& a, std::string* host, int* port);
// 0 or an errno; on success *fdOut is a bound, non-blocking, close-on-exec socket.
int openSocket(const std::string& host, int port, int* fdOut, int* boundPort);
const char* errnoName(int e);

}  // namespace mr
