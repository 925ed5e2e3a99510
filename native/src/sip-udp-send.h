// The sendmmsg half of SIP over UDP, shared by the socket that owns the
// port (sip-udp.cc) and the per-worker shards that send on a duplicate of
// its descriptor (sip-udp-shard.cc): one implementation of batching,
// per-message errors and EAGAIN handling.
#pragma once

#include <napi.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

namespace sipudp {

Napi::Value throwCode(const Napi::Env& env, const char* code, const std::string& msg);

class UdpSender {
 public:
  // send(items [buf, address, port]*, n, status Int32Array) -> consumed.
  // `fd` < 0 (closed) gives EBADF to every item.
  Napi::Value Send(const Napi::CallbackInfo& info, int fd);

  int family = AF_INET;
  uint64_t sent = 0, sendCalls = 0, sendErrors = 0, wouldBlock = 0;

 private:
  bool destination(const Napi::Env& env, const Napi::Value& a, const Napi::Value& p, sockaddr_storage* out, socklen_t* len);

  char lastHost_[64] = {0};
  size_t lastHostLen_ = 0;
  bool lastHostValid_ = false;
  sockaddr_storage lastAddr_{};
  socklen_t lastLen_ = 0;
};

}  // namespace sipudp
