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
#include <memory>
#include <string>

namespace sipudp {

Napi::Value throwCode(const Napi::Env& env, const char* code, const std::string& msg);

// One received datagram, wherever its bytes are (a receive slot, a shard's queue).
struct DatagramRef {
  const uint8_t* data;
  size_t len;
  const sockaddr_storage* from;
};

// The JavaScript end of a receiving socket (the owner's and a shard's):
// the shared meta array and the onBatch / onWritable callbacks, bound once
// from the constructor's arguments (info[1] onBatch, info[2] onWritable,
// info[3] meta), and the calls into them. An exception JavaScript throws
// from a callback is cleared and counted, never left pending.
class BatchSink {
 public:
  // False (a JavaScript exception pending) when meta is not an Int32Array of 4 x batch elements.
  bool bind(const Napi::CallbackInfo& info, int batch, const char* who);
  // Hands `n` (at most 64) datagrams to onBatch(buf, count, addrs) in one call: the datagrams
  // back to back in `buf`, [offset, length, port, address index] per datagram in meta, one
  // string per distinct source address in `addrs`.
  void deliver(const DatagramRef* d, int n, const Napi::Object& self);
  void writable(const Napi::Object& self);
  uint64_t listenerErrors = 0;

 private:
  void clearException();

  napi_env env_ = nullptr;
  int32_t* meta_ = nullptr;
  Napi::ObjectReference metaRef_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onWritable_;
  std::unique_ptr<Napi::AsyncContext> ctx_;
};

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
