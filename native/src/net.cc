#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <unistd.h>

#include <cstring>

namespace mr {

bool parseAddr(const std::string& host, int port, sockaddr_storage* out, socklen_t* len, int wantFamily) {
  std::memset(out, 0, sizeof *out);
  in_addr a4;
  in6_addr a6;
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    if (wantFamily == AF_INET6) {
      // A v4 peer seen from a v6 socket: v4-mapped form, as recvmmsg reports it.
      auto* s6 = reinterpret_cast<sockaddr_in6*>(out);
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons(uint16_t(port));
      s6->sin6_addr.s6_addr[10] = 0xff;
      s6->sin6_addr.s6_addr[11] = 0xff;
      std::memcpy(&s6->sin6_addr.s6_addr[12], &a4, 4);
      *len = sizeof(sockaddr_in6);
      return true;
    }
    auto* s4 = reinterpret_cast<sockaddr_in*>(out);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(uint16_t(port));
    s4->sin_addr = a4;
    *len = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &a6) == 1 && wantFamily != AF_INET) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(out);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(uint16_t(port));
    s6->sin6_addr = a6;
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

void addrToString(const sockaddr_storage& a, std::string* host, int* port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (a.ss_family == AF_INET) {
    auto& x = reinterpret_cast<const sockaddr_in&>(a);
    inet_ntop(AF_INET, &x.sin_addr, buf, sizeof buf);
    *port = ntohs(x.sin_port);
  } else {
    auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    const uint8_t* b = x.sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, mapped, 12) == 0)
      inet_ntop(AF_INET, b + 12, buf, sizeof buf);
    else
      inet_ntop(AF_INET6, &x.sin6_addr, buf, sizeof buf);
    *port = ntohs(x.sin6_port);
  }
  *host = buf;
}

int openSocket(const std::string& host, int port, int* fdOut, int* boundPort) {
  sockaddr_storage sa;
  socklen_t len;
  if (!parseAddr(host, port, &sa, &len, 0)) return EINVAL;
  int fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int on = 1;
  // Kernel receive timestamps give per-packet arrival times for jitter even
  // when packets are drained in batches.
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  // Room for bursts while the relay thread is busy with other sockets; the
  // kernel caps this at net.core.rmem_max.
  int buf = 512 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    int e = errno;
    close(fd);
    return e;
  }
  sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bl) != 0) {
    int e = errno;
    close(fd);
    return e;
  }
  std::string h;
  addrToString(bound, &h, boundPort);
  *fdOut = fd;
  return 0;
}

const char* errnoName(int e) {
  switch (e) {
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    case ENOSPC: return "ENOSPC";  // epoll: fs.epoll.max_user_watches reached
    case EAGAIN: return "EAGAIN";  // thread creation: process/thread limit
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return "EIO";
  }
}

}  // namespace mr
