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

// One received datagram, wherever its bytes are (a receive slot, a shard's queue).
struct DatagramRef {
  const uint8_t* data;
  size_t len;
  const sockaddr_storage* from;
};

// Hands `n` (at most 64) datagrams to JavaScript in one call, the form both
// receive paths share: onBatch(buf, count, addrs) with the datagrams back to
// back in `buf`, [offset, length, port, address index] per datagram in `meta`
// and one string per distinct source address in `addrs`. Call inside a
// HandleScope; an exception JavaScript left pending is the caller's to clear.
void deliverBatch(Napi::Env env, const DatagramRef* d, int n, int32_t* meta, const Napi::FunctionReference& onBatch,
                  const Napi::Object& self, const Napi::AsyncContext& ctx);

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
