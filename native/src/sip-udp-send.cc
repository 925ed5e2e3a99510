// See sip-udp-send.h. A message the kernel refuses (EMSGSIZE, ENETUNREACH,
// a pending ICMP error, ...) gets its errno in `status` and the rest go on;
// EAGAIN / EWOULDBLOCK stop the call and report how many were consumed, so
// the caller keeps the rest and asks for a writable wake-up.
#include "sip-udp-send.h"

#include <arpa/inet.h>
#include <errno.h>

#include <cstring>
#include <string>

#include "net.h"

namespace sipudp {

namespace {
constexpr int kMaxSend = 64;
}

Napi::Value throwCode(const Napi::Env& env, const char* code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value UdpSender::Send(const Napi::CallbackInfo& info, int fd) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || !info[1].IsNumber() || !info[2].IsTypedArray())
    return throwCode(env, "EINVAL", "send(items, n, status)");
  Napi::Array items = info[0].As<Napi::Array>();
  Napi::TypedArray st = info[2].As<Napi::TypedArray>();
  int64_t n = info[1].As<Napi::Number>().Int64Value();
  if (n < 0 || uint64_t(n) * 3 > items.Length() || st.TypedArrayType() != napi_int32_array || st.ElementLength() < size_t(n))
    return throwCode(env, "EINVAL", "send: n out of range");
  auto* status = reinterpret_cast<int32_t*>(static_cast<uint8_t*>(st.ArrayBuffer().Data()) + st.ByteOffset());
  if (fd < 0) {
    for (int64_t i = 0; i < n; i++) status[i] = EBADF;
    return Napi::Number::New(env, double(n));
  }
  int64_t consumed = 0;
  while (consumed < n) {
    // Handles of one chunk only: a long queue must not pile up handles.
    Napi::HandleScope chunkScope(env);
    mmsghdr msgs[kMaxSend];
    iovec iov[kMaxSend];
    sockaddr_storage to[kMaxSend];
    int itemOf[kMaxSend];
    int cnt = 0;
    int64_t next = consumed;
    // Build up to kMaxSend valid messages; invalid ones get their status now.
    while (next < n && cnt < kMaxSend) {
      int64_t i = next++;
      Napi::Value b = items.Get(uint32_t(i * 3));
      Napi::Value a = items.Get(uint32_t(i * 3 + 1));
      Napi::Value p = items.Get(uint32_t(i * 3 + 2));
      if (env.IsExceptionPending()) return env.Undefined();
      socklen_t tl = 0;
      if (!b.IsBuffer() || !a.IsString() || !p.IsNumber() || !destination(env, a, p, &to[cnt], &tl)) {
        status[i] = EINVAL;
        sendErrors++;
        continue;
      }
      auto data = b.As<Napi::Buffer<uint8_t>>();
      iov[cnt].iov_base = data.Data();
      iov[cnt].iov_len = data.Length();
      std::memset(&msgs[cnt].msg_hdr, 0, sizeof msgs[cnt].msg_hdr);
      msgs[cnt].msg_hdr.msg_iov = &iov[cnt];
      msgs[cnt].msg_hdr.msg_iovlen = 1;
      msgs[cnt].msg_hdr.msg_name = &to[cnt];
      msgs[cnt].msg_hdr.msg_namelen = tl;
      itemOf[cnt] = int(i);
      cnt++;
    }
    int off = 0;
    while (off < cnt) {
      int r = sendmmsg(fd, msgs + off, unsigned(cnt - off), MSG_DONTWAIT);
      if (r > 0) {
        sendCalls++;
        for (int k = 0; k < r; k++) status[itemOf[off + k]] = 0;
        sent += uint64_t(r);
        off += r;
        continue;
      }
      int e = r < 0 ? errno : EIO;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        // The socket buffer is full: the caller keeps the rest and waits for writable.
        wouldBlock++;
        return Napi::Number::New(env, double(itemOf[off]));
      }
      // This message is refused (EMSGSIZE, ENOBUFS, ENETUNREACH, ECONNREFUSED from an
      // earlier ICMP error, EPERM from a firewall ...): report it and send the rest.
      status[itemOf[off]] = e;
      sendErrors++;
      off++;
    }
    consumed = next;
  }
  return Napi::Number::New(env, double(consumed));
}

namespace {
bool sameHost(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET)
    return reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr == reinterpret_cast<const sockaddr_in&>(b).sin_addr.s_addr;
  return std::memcmp(&reinterpret_cast<const sockaddr_in6&>(a).sin6_addr, &reinterpret_cast<const sockaddr_in6&>(b).sin6_addr, 16) == 0;
}
}  // namespace

bool BatchSink::bind(const Napi::CallbackInfo& info, int batch, const char* who) {
  Napi::Env env = info.Env();
  Napi::TypedArray meta = info[3].As<Napi::TypedArray>();
  if (meta.TypedArrayType() != napi_int32_array || meta.ElementLength() < size_t(batch * 4)) {
    throwCode(env, "EINVAL", std::string(who) + ": meta must be an Int32Array of 4 x batch elements");
    return false;
  }
  env_ = env;
  meta_ = reinterpret_cast<int32_t*>(static_cast<uint8_t*>(meta.ArrayBuffer().Data()) + meta.ByteOffset());
  metaRef_ = Napi::Persistent(meta.As<Napi::Object>());
  onBatch_ = Napi::Persistent(info[1].As<Napi::Function>());
  onWritable_ = Napi::Persistent(info[2].As<Napi::Function>());
  ctx_.reset(new Napi::AsyncContext(env, who));
  return true;
}

void BatchSink::clearException() {
  Napi::Env env(env_);
  if (env.IsExceptionPending()) {
    env.GetAndClearPendingException();
    listenerErrors++;
  }
}

void BatchSink::writable(const Napi::Object& self) {
  Napi::HandleScope scope(env_);
  onWritable_.MakeCallback(self, {}, *ctx_);
  clearException();
}

void BatchSink::deliver(const DatagramRef* d, int n, const Napi::Object& self) {
  if (n <= 0) return;
  Napi::HandleScope scope(env_);
  Napi::Env env(env_);
  int32_t* meta = meta_;
  size_t total = 0;
  for (int i = 0; i < n; i++) total += d[i].len;
  Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::New(env, total == 0 ? 1 : total);
  if (env.IsExceptionPending()) {
    clearException();
    return;
  }
  Napi::Array addrs = Napi::Array::New(env);
  int distinct[kMaxSend];
  int nDistinct = 0;
  size_t off = 0;
  for (int i = 0; i < n && i < kMaxSend; i++) {
    std::memcpy(buf.Data() + off, d[i].data, d[i].len);
    const sockaddr_storage& from = *d[i].from;
    int idx = -1;
    for (int k = 0; k < nDistinct; k++) {
      if (sameHost(*d[distinct[k]].from, from)) {
        idx = k;
        break;
      }
    }
    int port = from.ss_family == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in&>(from).sin_port)
                                         : ntohs(reinterpret_cast<const sockaddr_in6&>(from).sin6_port);
    if (idx < 0) {
      // One string per distinct source of the batch, not per datagram.
      std::string host;
      int ignored = 0;
      mr::addrToString(from, &host, &ignored);
      idx = nDistinct;
      distinct[nDistinct++] = i;
      addrs.Set(uint32_t(idx), Napi::String::New(env, host));
    }
    int32_t* m = meta + i * 4;
    m[0] = int32_t(off);
    m[1] = int32_t(d[i].len);
    m[2] = port;
    m[3] = idx;
    off += d[i].len;
  }
  onBatch_.MakeCallback(self, {buf, Napi::Number::New(env, n), addrs}, *ctx_);
  clearException();
}

bool UdpSender::destination(const Napi::Env& env, const Napi::Value& a, const Napi::Value& p, sockaddr_storage* out, socklen_t* len) {
  double pd = p.As<Napi::Number>().DoubleValue();
  if (!(pd >= 1 && pd <= 65535) || pd != double(int(pd))) return false;
  char host[sizeof lastHost_];
  size_t hl = 0;
  if (napi_get_value_string_utf8(env, a, host, sizeof host, &hl) != napi_ok || hl + 1 >= sizeof host) return false;
  // Most messages of a tick go to the same few peers: the last parsed host is kept.
  if (!(lastHostValid_ && hl == lastHostLen_ && std::memcmp(host, lastHost_, hl) == 0)) {
    if (!mr::parseAddr(std::string(host, hl), 0, &lastAddr_, &lastLen_, family)) return false;
    std::memcpy(lastHost_, host, hl);
    lastHostLen_ = hl;
    lastHostValid_ = true;
  }
  *out = lastAddr_;
  *len = lastLen_;
  uint16_t port = htons(uint16_t(pd));
  if (out->ss_family == AF_INET)
    reinterpret_cast<sockaddr_in*>(out)->sin_port = port;
  else
    reinterpret_cast<sockaddr_in6*>(out)->sin6_port = port;
  return true;
}

}  // namespace sipudp
