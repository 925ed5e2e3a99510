// See sip-udp-shard.h.
#include "sip-udp-shard.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <unordered_map>

#include "net.h"
#include "sip-udp-send.h"

namespace sipudp {
namespace {

constexpr size_t kMaxQueuedBytes = 8u << 20;
constexpr int kMaxBatch = 64;

std::mutex g_sharesMu;
std::unordered_map<int, std::shared_ptr<Share>> g_shares;
int g_nextShare = 1;

inline uint8_t lowerAscii(uint8_t c) { return (c >= 'A' && c <= 'Z') ? uint8_t(c + 32) : c; }

bool nameIs(const uint8_t* p, size_t len, const char* lowerName) {
  size_t n = std::strlen(lowerName);
  if (len != n) return false;
  for (size_t i = 0; i < n; i++)
    if (lowerAscii(p[i]) != uint8_t(lowerName[i])) return false;
  return true;
}

inline bool blank(uint8_t c) { return c == ' ' || c == '\t'; }

}  // namespace

int shardOf(const uint8_t* p, size_t len, int n) {
  if (n <= 1) return 0;
  const bool response = len >= 8 && std::memcmp(p, "SIP/2.0 ", 8) == 0;
  // The registrar and the REGISTER relay live on shard 0 (RFC 3261 §10: a
  // REGISTER's Call-ID is the UA's own, unrelated to any call).
  if (!response && len >= 9 && std::memcmp(p, "REGISTER ", 9) == 0) return 0;
  size_t i = 0;
  while (i < len && p[i] != '\n') i++;
  i++;
  const uint8_t* callId = nullptr;
  size_t callIdLen = 0;
  bool cseqSeen = !response;
  while (i < len && (callId == nullptr || !cseqSeen)) {
    size_t le = i;
    while (le < len && p[le] != '\n') le++;
    size_t e = le;
    if (e > i && p[e - 1] == '\r') e--;
    if (e == i) break;  // the empty line: end of the header section
    size_t k = i;
    while (k < e && p[k] != ':' && !blank(p[k])) k++;
    const uint8_t* name = p + i;
    size_t nameLen = k - i;
    while (k < e && blank(p[k])) k++;
    if (k < e && p[k] == ':') {
      size_t v = k + 1;
      while (v < e && blank(p[v])) v++;
      size_t ve = e;
      while (ve > v && blank(p[ve - 1])) ve--;
      if (callId == nullptr && (nameIs(name, nameLen, "call-id") || nameIs(name, nameLen, "i"))) {
        callId = p + v;
        callIdLen = ve - v;
      } else if (!cseqSeen && nameIs(name, nameLen, "cseq")) {
        cseqSeen = true;
        size_t m = v;
        while (m < ve && p[m] >= '0' && p[m] <= '9') m++;
        while (m < ve && blank(p[m])) m++;
        if (ve - m == 8 && std::memcmp(p + m, "REGISTER", 8) == 0) return 0;
      }
    }
    i = le + 1;
  }
  if (callId == nullptr || callIdLen == 0) return 0;  // not SIP enough to own: shard 0 answers or drops it
  uint32_t h = 2166136261u;  // FNV-1a, the same as src/sip/call-id-shard.ts
  for (size_t j = 0; j < callIdLen; j++) {
    h ^= callId[j];
    h *= 16777619u;
  }
  return int(h % uint32_t(n));
}

int publishShare(std::shared_ptr<Share> share) {
  std::lock_guard<std::mutex> g(g_sharesMu);
  int id = g_nextShare++;
  g_shares[id] = std::move(share);
  return id;
}

void withdrawShare(int id) {
  std::lock_guard<std::mutex> g(g_sharesMu);
  g_shares.erase(id);
}

std::shared_ptr<Share> findShare(int id) {
  std::lock_guard<std::mutex> g(g_sharesMu);
  auto it = g_shares.find(id);
  return it == g_shares.end() ? nullptr : it->second;
}

size_t enqueue(ShardQueue& q, const uint8_t* const* data, const size_t* lens, const sockaddr_storage* const* from, int n) {
  size_t dropped = 0;
  std::lock_guard<std::mutex> g(q.mu);
  for (int i = 0; i < n; i++) {
    // A worker that cannot keep up loses datagrams here as a full socket buffer would.
    if (q.bytes.size() + lens[i] > kMaxQueuedBytes) {
      dropped++;
      continue;
    }
    QueuedDatagram d;
    d.off = uint32_t(q.bytes.size());
    d.len = uint32_t(lens[i]);
    d.from = *from[i];
    q.bytes.insert(q.bytes.end(), data[i], data[i] + lens[i]);
    q.items.push_back(d);
  }
  q.dropped += dropped;
  if (q.wake != nullptr && !q.items.empty()) uv_async_send(q.wake);
  return dropped;
}

namespace {

struct PollBox {
  uv_poll_t h;
  int fd;
};

class SipUdpShard : public Napi::ObjectWrap<SipUdpShard> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SipUdpShard",
                       {InstanceMethod("send", &SipUdpShard::Send),
                        InstanceMethod("armWritable", &SipUdpShard::ArmWritable),
                        InstanceMethod("close", &SipUdpShard::Close),
                        InstanceMethod("stats", &SipUdpShard::Stats),
                        InstanceAccessor("port", &SipUdpShard::Port, nullptr)});
  }

  // new SipUdpShard({ share, shard, batch }, onBatch(buf, count, addrs), onWritable(), meta Int32Array)
  explicit SipUdpShard(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SipUdpShard>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject() || !info[1].IsFunction() || !info[2].IsFunction() || !info[3].IsTypedArray()) {
      throwCode(env, "EINVAL", "SipUdpShard(options, onBatch, onWritable, meta)");
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value sv = o.Get("share"), kv = o.Get("shard"), bv = o.Get("batch");
    if (env.IsExceptionPending()) return;
    if (!sv.IsNumber() || !kv.IsNumber() || !bv.IsNumber()) {
      throwCode(env, "EINVAL", "SipUdpShard: share, shard and batch must be numbers");
      return;
    }
    int id = sv.As<Napi::Number>().Int32Value();
    shard_ = kv.As<Napi::Number>().Int32Value();
    batch_ = bv.As<Napi::Number>().Int32Value();
    share_ = findShare(id);
    if (share_ == nullptr || shard_ < 1 || size_t(shard_) >= share_->queues.size() || batch_ < 1 || batch_ > kMaxBatch) {
      throwCode(env, "EINVAL", "SipUdpShard: no such share or shard, or batch out of range");
      return;
    }
    if (!sink_.bind(info, batch_, "SipUdpShard")) return;
    fd_ = fcntl(share_->fd, F_DUPFD_CLOEXEC, 0);
    if (fd_ < 0) {
      int e = errno;
      throwCode(env, mr::errnoName(e), std::string("SipUdpShard: dup: ") + strerror(e));
      return;
    }
    sender_.family = share_->family;
    if (napi_get_uv_event_loop(env, &loop_) != napi_ok) {
      close(fd_);
      fd_ = -1;
      throwCode(env, "EIO", "SipUdpShard: no event loop");
      return;
    }
    wake_ = new uv_async_t;
    uv_async_init(loop_, wake_, &SipUdpShard::OnWake);
    wake_->data = this;
    env_ = env;
    open_ = true;
    queue_ = share_->queues[size_t(shard_)].get();
    {
      std::lock_guard<std::mutex> g(queue_->mu);
      queue_->wake = wake_;
    }
    uv_async_send(wake_);  // what arrived before this worker attached
    napi_add_env_cleanup_hook(env, &SipUdpShard::OnEnvCleanup, this);
    Ref();
  }

 private:
  static void OnWake(uv_async_t* h) {
    auto* self = static_cast<SipUdpShard*>(h->data);
    if (self != nullptr && self->open_) self->drain();
  }

  void drain() {
    {
      std::lock_guard<std::mutex> g(queue_->mu);
      bytes_.swap(queue_->bytes);
      items_.swap(queue_->items);
    }
    wakeups_++;
    for (size_t at = 0; at < items_.size() && open_; at += size_t(batch_)) {
      size_t end = std::min(items_.size(), at + size_t(batch_));
      deliver(at, end);
    }
    bytes_.clear();
    items_.clear();
  }

  void deliver(size_t at, size_t end) {
    Napi::HandleScope scope(env_);
    DatagramRef refs[kMaxBatch];
    int count = 0;
    for (size_t i = at; i < end; i++) refs[count++] = {bytes_.data() + items_[i].off, items_[i].len, &items_[i].from};
    received_ += uint64_t(count);
    sink_.deliver(refs, count, Value());
  }


  Napi::Value Send(const Napi::CallbackInfo& info) { return sender_.Send(info, open_ ? fd_ : -1); }

  Napi::Value ArmWritable(const Napi::CallbackInfo& info) {
    if (open_ && !writableArmed_) {
      if (poll_ == nullptr) {
        poll_ = new PollBox;
        poll_->fd = fd_;
        uv_poll_init_socket(loop_, &poll_->h, fd_);
        poll_->h.data = this;
      }
      writableArmed_ = true;
      uv_poll_start(&poll_->h, UV_WRITABLE, &SipUdpShard::OnPoll);
    }
    return info.Env().Undefined();
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    auto* self = static_cast<SipUdpShard*>(h->data);
    if (self == nullptr || !self->open_) return;
    uv_poll_stop(h);
    self->writableArmed_ = false;
    Napi::HandleScope scope(self->env_);
    self->sink_.writable(self->Value());
  }

  // Detaches from the queue and closes the handles; the descriptor closes with the last of them.
  void detach() {
    if (!open_) return;
    open_ = false;
    {
      std::lock_guard<std::mutex> g(queue_->mu);
      queue_->wake = nullptr;
    }
    wake_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(wake_), [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
    wake_ = nullptr;
    if (poll_ != nullptr) {
      poll_->h.data = nullptr;
      uv_poll_stop(&poll_->h);
      uv_close(reinterpret_cast<uv_handle_t*>(&poll_->h), [](uv_handle_t* h) {
        auto* box = reinterpret_cast<PollBox*>(h);
        close(box->fd);
        delete box;
      });
      poll_ = nullptr;
    } else {
      close(fd_);
    }
    fd_ = -1;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (open_) {
      detach();
      napi_remove_env_cleanup_hook(env_, &SipUdpShard::OnEnvCleanup, this);
      Unref();
    }
    return info.Env().Undefined();
  }

  static void OnEnvCleanup(void* arg) { static_cast<SipUdpShard*>(arg)->detach(); }

  Napi::Value Port(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), share_ != nullptr ? share_->port : 0); }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t dropped = 0;
    if (queue_ != nullptr) {
      std::lock_guard<std::mutex> g(queue_->mu);
      dropped = queue_->dropped;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("received", double(received_));
    o.Set("recvCalls", double(wakeups_));
    o.Set("recvErrors", 0.0);
    o.Set("truncated", double(dropped));
    o.Set("sent", double(sender_.sent));
    o.Set("sendCalls", double(sender_.sendCalls));
    o.Set("sendErrors", double(sender_.sendErrors));
    o.Set("wouldBlock", double(sender_.wouldBlock));
    o.Set("pollErrors", 0.0);
    o.Set("listenerErrors", double(sink_.listenerErrors));
    return o;
  }

  napi_env env_ = nullptr;
  uv_loop_t* loop_ = nullptr;
  std::shared_ptr<Share> share_;
  ShardQueue* queue_ = nullptr;
  uv_async_t* wake_ = nullptr;
  PollBox* poll_ = nullptr;
  int fd_ = -1;
  int shard_ = 0;
  int batch_ = 32;
  bool open_ = false;
  bool writableArmed_ = false;
  std::vector<uint8_t> bytes_;
  std::vector<QueuedDatagram> items_;
  UdpSender sender_;
  BatchSink sink_;
  uint64_t received_ = 0, wakeups_ = 0;
};

}  // namespace

void InitShard(Napi::Env env, Napi::Object exports) {
  exports.Set("SipUdpShard", SipUdpShard::Define(env));
}

}  // namespace sipudp
