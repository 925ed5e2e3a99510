// SIP over UDP in batches; see sip-udp.h for the why.
//
// Receiving: the socket is watched by a uv_poll handle in the main loop (no
// thread, no hand-off): when it is readable, recvmmsg drains up to `batch`
// datagrams per call, several calls per wake-up, and each batch reaches
// JavaScript as ONE Buffer (the datagrams back to back), a shared Int32Array
// of [offset, length, port, address index] per datagram and an array of the
// distinct source addresses of the batch. A datagram longer than a slot
// (65,536 bytes: every IPv4/IPv6 UDP payload without jumbograms) cannot be
// truncated; one flagged MSG_TRUNC anyway is counted and dropped.
//
// Sending: JavaScript passes the messages it queued during a tick as a flat
// array [buffer, address, port, ...]; they leave in sendmmsg calls of up to
// kMaxBatch. A message the kernel refuses (EMSGSIZE, ENETUNREACH, a pending
// ICMP error, ...) gets its errno in `status` and the rest go on; EAGAIN /
// EWOULDBLOCK stop the call and report how many were consumed, so the
// caller keeps the rest and asks for a writable wake-up. Nothing here throws
// once the socket is open: errors are counted and reported.
#include "sip-udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "net.h"
#include "sip-udp-send.h"
#include "sip-udp-shard.h"

namespace sipudp {
namespace {

constexpr int kMaxBatch = 64;
constexpr size_t kSlot = 65536;
// recvmmsg calls per wake-up. One: the replies to a batch leave (setImmediate
// flush) before the next batch is read, so batching adds at most one batch of
// processing to a message's latency, and a flood cannot keep timers and other
// sockets waiting. The poll is level-triggered: what is left wakes it again.
constexpr int kRoundsPerWakeup = 1;

int readInt(const Napi::Object& o, const char* k, int def, int lo, int hi, bool* ok) {
  Napi::Value v = o.Get(k);
  if (o.Env().IsExceptionPending()) {
    *ok = false;
    return def;
  }
  if (v.IsUndefined() || v.IsNull()) return def;
  if (!v.IsNumber()) {
    *ok = false;
    return def;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || d != double(int64_t(d))) {
    *ok = false;
    return def;
  }
  return int(d);
}

class SipUdpSocket : public Napi::ObjectWrap<SipUdpSocket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SipUdpSocket",
                       {InstanceMethod("send", &SipUdpSocket::Send),
                        InstanceMethod("armWritable", &SipUdpSocket::ArmWritable),
                        InstanceMethod("close", &SipUdpSocket::Close),
                        InstanceMethod("stats", &SipUdpSocket::Stats),
                        InstanceAccessor("port", &SipUdpSocket::Port, nullptr),
                        InstanceAccessor("share", &SipUdpSocket::ShareId, nullptr)});
  }

  // new SipUdpSocket({ address, port, batch, recvBufferBytes, sendBufferBytes },
  //                  onBatch(buf, count, addrs), onWritable(), meta Int32Array)
  explicit SipUdpSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SipUdpSocket>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject() || !info[1].IsFunction() || !info[2].IsFunction() || !info[3].IsTypedArray()) {
      throwCode(env, "EINVAL", "SipUdpSocket(options, onBatch, onWritable, meta)");
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value addrV = o.Get("address");
    if (env.IsExceptionPending()) return;
    if (!addrV.IsString()) {
      throwCode(env, "EINVAL", "SipUdpSocket: address must be a string");
      return;
    }
    std::string address = addrV.As<Napi::String>().Utf8Value();
    bool ok = true;
    int port = readInt(o, "port", 0, 0, 65535, &ok);
    batch_ = readInt(o, "batch", 32, 1, kMaxBatch, &ok);
    int rcvbuf = readInt(o, "recvBufferBytes", 4 << 20, 0, 1 << 30, &ok);
    int sndbuf = readInt(o, "sendBufferBytes", 4 << 20, 0, 1 << 30, &ok);
    int shards = readInt(o, "shards", 1, 1, 64, &ok);
    if (env.IsExceptionPending()) return;
    if (!ok) {
      throwCode(env, "EINVAL", "SipUdpSocket: port, batch and buffer sizes must be integers in range");
      return;
    }
    if (!sink_.bind(info, batch_, "SipUdpSocket")) return;

    sockaddr_storage sa;
    socklen_t len;
    if (!mr::parseAddr(address, port, &sa, &len, 0)) {
      throwCode(env, "EINVAL", "SipUdpSocket: address is not an IP address: " + address);
      return;
    }
    family_ = sa.ss_family;
    tx_.family = family_;
    int fd = socket(family_, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      int e = errno;
      throwCode(env, mr::errnoName(e), std::string("SipUdpSocket: socket: ") + strerror(e));
      return;
    }
    if (family_ == AF_INET6) {
      // Dual stack like node's udp6 sockets: IPv4 peers arrive v4-mapped.
      int off = 0;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    }
    // Bursts of thousands of calls per second overflow the default buffers;
    // the kernel caps these at net.core.rmem_max / wmem_max.
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
      int e = errno;
      close(fd);
      throwCode(env, mr::errnoName(e), std::string("SipUdpSocket: bind ") + address + ":" + std::to_string(port) + ": " + strerror(e));
      return;
    }
    sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    std::string h;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bl) != 0) {
      int e = errno;
      close(fd);
      throwCode(env, mr::errnoName(e), "SipUdpSocket: getsockname failed");
      return;
    }
    mr::addrToString(bound, &h, &port_);
    // Fresh pages from malloc (mmap for this size) stay unbacked until the
    // kernel writes a datagram into them: 4 MiB of address space, not RSS.
    slots_ = static_cast<uint8_t*>(std::malloc(size_t(batch_) * kSlot));
    if (slots_ == nullptr) {
      close(fd);
      throwCode(env, "ENOMEM", "SipUdpSocket: no memory for receive slots");
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init_socket(loop, &poll_, fd) != 0) {
      close(fd);
      throwCode(env, "EIO", "SipUdpSocket: cannot watch the socket");
      return;
    }
    fd_ = fd;
    if (shards > 1) {
      share_ = std::make_shared<Share>();
      share_->fd = fd;
      share_->family = family_;
      share_->port = port_;
      share_->queues.resize(size_t(shards));
      for (int k = 1; k < shards; k++) share_->queues[size_t(k)].reset(new ShardQueue);
      shareId_ = publishShare(share_);
    }
    poll_.data = this;
    env_ = env;
    uv_poll_start(&poll_, UV_READABLE, &SipUdpSocket::OnPoll);
    open_ = true;
    // Kept alive by the loop until close(), as a node dgram socket is.
    Ref();
  }

  ~SipUdpSocket() override {
    std::free(slots_);
  }

 private:
  static void OnPoll(uv_poll_t* h, int status, int events) {
    auto* self = static_cast<SipUdpSocket*>(h->data);
    if (!self->open_) return;
    if (status < 0) {
      self->pollErrors_++;
      return;
    }
    if (events & UV_WRITABLE) self->writableReady();
    if (self->open_ && (events & UV_READABLE)) self->drain();
  }

  void writableReady() {
    writableArmed_ = false;
    uv_poll_start(&poll_, UV_READABLE, &SipUdpSocket::OnPoll);
    Napi::HandleScope scope(env_);
    sink_.writable(Value());
  }


  void drain() {
    mmsghdr msgs[kMaxBatch];
    iovec iov[kMaxBatch];
    sockaddr_storage from[kMaxBatch];
    for (int round = 0; round < kRoundsPerWakeup && open_; round++) {
      for (int i = 0; i < batch_; i++) {
        iov[i].iov_base = slots_ + size_t(i) * kSlot;
        iov[i].iov_len = kSlot;
        std::memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      }
      int n = recvmmsg(fd_, msgs, unsigned(batch_), MSG_DONTWAIT, nullptr);
      if (n < 0) {
        int e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK) return;
        if (e == EINTR) continue;
        // ECONNREFUSED/EHOSTUNREACH (an ICMP error queued on the socket),
        // ENOMEM ...: the error is consumed by this call; count and go on.
        recvErrors_++;
        continue;
      }
      if (n == 0) return;
      recvCalls_++;
      if (share_ != nullptr) n = forwardToShards(msgs, from, n);
      if (n > 0) deliver(msgs, from, n);
      if (n < batch_) return;  // drained
    }
  }

  // Hands each datagram another shard owns to that shard's queue; compacts
  // the batch to this thread's own datagrams and returns their number.
  int forwardToShards(mmsghdr* msgs, sockaddr_storage* from, int n) {
    const int shards = int(share_->queues.size());
    int owner[kMaxBatch];
    int own = 0;
    bool any = false;
    for (int i = 0; i < n; i++) {
      owner[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 0 : shardOf(slots_ + size_t(i) * kSlot, msgs[i].msg_len, shards);
      if (owner[i] != 0) any = true;
    }
    if (!any) return n;
    for (int k = 1; k < shards; k++) {
      const uint8_t* data[kMaxBatch];
      size_t lens[kMaxBatch];
      const sockaddr_storage* src[kMaxBatch];
      int cnt = 0;
      for (int i = 0; i < n; i++) {
        if (owner[i] != k) continue;
        data[cnt] = slots_ + size_t(i) * kSlot;
        lens[cnt] = msgs[i].msg_len;
        src[cnt] = &from[i];
        cnt++;
      }
      if (cnt == 0) continue;
      size_t dropped = enqueue(*share_->queues[size_t(k)], data, lens, src, cnt);
      forwarded_ += uint64_t(cnt) - dropped;
      truncated_ += dropped;
    }
    // Keep this thread's own datagrams, in order, at the front of the batch.
    for (int i = 0; i < n; i++) {
      if (owner[i] != 0) continue;
      if (own != i) {
        std::memcpy(slots_ + size_t(own) * kSlot, slots_ + size_t(i) * kSlot, msgs[i].msg_len);
        msgs[own].msg_len = msgs[i].msg_len;
        msgs[own].msg_hdr.msg_flags = msgs[i].msg_hdr.msg_flags;
        from[own] = from[i];
      }
      own++;
    }
    return own;
  }

  void deliver(mmsghdr* msgs, sockaddr_storage* from, int n) {
    Napi::HandleScope scope(env_);
    DatagramRef refs[kMaxBatch];
    int count = 0;
    for (int i = 0; i < n; i++) {
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        truncated_++;
        continue;
      }
      refs[count++] = {slots_ + size_t(i) * kSlot, msgs[i].msg_len, &from[i]};
    }
    received_ += uint64_t(count);
    if (count == 0) return;
    sink_.deliver(refs, count, Value());
  }


  Napi::Value Send(const Napi::CallbackInfo& info) { return tx_.Send(info, open_ ? fd_ : -1); }

  Napi::Value ArmWritable(const Napi::CallbackInfo& info) {
    if (open_ && !writableArmed_) {
      writableArmed_ = true;
      uv_poll_start(&poll_, UV_READABLE | UV_WRITABLE, &SipUdpSocket::OnPoll);
    }
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (open_) {
      open_ = false;
      if (shareId_ != 0) withdrawShare(shareId_);
      uv_poll_stop(&poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(&poll_), &SipUdpSocket::OnClosed);
    }
    return info.Env().Undefined();
  }

  static void OnClosed(uv_handle_t* h) {
    auto* self = static_cast<SipUdpSocket*>(h->data);
    close(self->fd_);
    self->fd_ = -1;
    Napi::HandleScope scope(self->env_);
    self->Unref();
  }

  Napi::Value ShareId(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), shareId_);
  }

  Napi::Value Port(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), port_);
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("received", double(received_));
    o.Set("recvCalls", double(recvCalls_));
    o.Set("recvErrors", double(recvErrors_));
    o.Set("truncated", double(truncated_));
    o.Set("sent", double(tx_.sent));
    o.Set("sendCalls", double(tx_.sendCalls));
    o.Set("sendErrors", double(tx_.sendErrors));
    o.Set("wouldBlock", double(tx_.wouldBlock));
    o.Set("forwarded", double(forwarded_));
    o.Set("share", double(shareId_));
    o.Set("pollErrors", double(pollErrors_));
    o.Set("listenerErrors", double(sink_.listenerErrors));
    return o;
  }

  napi_env env_ = nullptr;
  uv_poll_t poll_{};
  int fd_ = -1;
  int family_ = AF_INET;
  int port_ = 0;
  int batch_ = 32;
  bool open_ = false;
  bool writableArmed_ = false;
  uint8_t* slots_ = nullptr;
  BatchSink sink_;
  UdpSender tx_;
  // Several worker threads (sip-udp-shard.h): 0 = none.
  int shareId_ = 0;
  std::shared_ptr<Share> share_;
  uint64_t received_ = 0, recvCalls_ = 0, recvErrors_ = 0, truncated_ = 0, forwarded_ = 0;
  uint64_t pollErrors_ = 0;
};

}  // namespace

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("SipUdpSocket", SipUdpSocket::Define(env));
}

}  // namespace sipudp
