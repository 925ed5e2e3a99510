#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cmath>
#include <cstring>
#include <system_error>

namespace mr {

namespace {

constexpr int kBatch = 32;
constexpr size_t kBufSize = 2048;
// Leave room behind every received packet for the SRTP/SRTCP trailer added
// when it is protected in place on the way out.
constexpr size_t kRecvLen = kBufSize - 64;
constexpr int kRoundsPerEvent = 4;
constexpr uint64_t kWakeTag = ~uint64_t(0);
constexpr int kSrRing = 4;
// A transit-time difference above this is a timestamp discontinuity (sender
// restart, a gap without timestamp advance), not jitter: RFC 3550 A.8
// assumes continuous timestamps. Such samples are skipped and counted.
constexpr double kMaxTransitDeltaSec = 3.0;

inline uint16_t rd16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t rd32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

double nowRealMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return double(ts.tv_sec) * 1000.0 + double(ts.tv_nsec) / 1e6;
}

// Middle 32 bits of an NTP-like timestamp of the monotonic clock: RTT needs
// only differences of our own clock (we compare the time we forwarded an SR
// with the time its echo came back).
uint32_t nowCompact() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t(ts.tv_sec) << 16) | uint32_t((uint64_t(ts.tv_nsec) << 16) / 1000000000ull);
}

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

bool sameAddr(const sockaddr_storage& a, const sockaddr_storage& b) {
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

// RFC 3550 A.1/A.3/A.8 receive-side statistics of one source.
struct RecvStats {
  bool started = false;
  uint32_t ssrc = 0;
  uint16_t maxSeq = 0;
  uint32_t cycles = 0;
  uint32_t baseSeq = 0;
  uint32_t badSeq = 0x10000;
  uint64_t received = 0;
  int64_t lostBefore = 0;  // loss of earlier SSRCs / sequence restarts
  uint64_t outOfOrder = 0;
  bool haveTransit = false;
  double prevArrival = 0;  // in timestamp units
  uint32_t prevTs = 0;
  double jitter = 0;  // in timestamp units

  int64_t lost() const {
    if (!started) return lostBefore;
    int64_t expected = int64_t(cycles) + maxSeq - int64_t(baseSeq) + 1;
    return lostBefore + expected - int64_t(received);
  }
  void restart(uint16_t seq) {
    if (started) lostBefore = lost();
    started = true;
    baseSeq = seq;
    maxSeq = seq;
    cycles = 0;
    received = 0;
    badSeq = 0x10000;
  }
  // Restart of the A.8 estimator: its state is in timestamp units of one
  // source and one clock rate, so it must not carry over a change of either.
  void resetJitter() {
    haveTransit = false;
    jitter = 0;
  }
  // Returns false when the packet's transit difference was skipped as a
  // discontinuity (see kMaxTransitDeltaSec).
  bool update(uint32_t pktSsrc, uint16_t seq, uint32_t ts, double arrivalUnits, uint32_t clockRate) {
    constexpr uint16_t kMaxDropout = 3000;
    constexpr uint16_t kMaxMisorder = 100;
    if (!started || pktSsrc != ssrc) {
      ssrc = pktSsrc;
      restart(seq);
      resetJitter();
    } else {
      uint16_t udelta = uint16_t(seq - maxSeq);
      if (udelta < kMaxDropout) {
        if (seq < maxSeq) cycles += 65536;
        maxSeq = seq;
      } else if (udelta <= 65535 - kMaxMisorder) {
        // A big jump: believe it only when the next packet continues it.
        if (seq == badSeq) {
          restart(seq);
          haveTransit = false;
        } else {
          badSeq = uint32_t(seq + 1) & 0xffff;
          return true;
        }
      } else {
        outOfOrder++;
      }
    }
    received++;
    bool clean = true;
    if (haveTransit) {
      double d = std::fabs((arrivalUnits - prevArrival) - double(int32_t(ts - prevTs)));
      if (std::isfinite(d) && d <= kMaxTransitDeltaSec * double(clockRate))
        jitter += (d - jitter) / 16.0;
      else
        clean = false;
    }
    haveTransit = true;
    prevArrival = arrivalUnits;
    prevTs = ts;
    return clean;
  }
};

struct SrSent {
  uint32_t ntpMid = 0;
  uint32_t sentAt = 0;
  bool used = false;
};

// Counters with one writer at a time (whoever holds the engine mutex: the
// relay thread during a round, the JS thread in updateLeg) and lock-free
// readers (stats()). Relaxed load + store compile to plain moves on x86-64:
// no locked read-modify-write on the packet path.
struct PubU {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(uint64_t x) { v.store(x, std::memory_order_relaxed); }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};
template <typename T>
struct Pub {
  std::atomic<T> v{T()};
  void set(T x) { v.store(x, std::memory_order_relaxed); }
  T get() const { return v.load(std::memory_order_relaxed); }
};

struct LiveStats {
  PubU rtpPacketsIn, rtpBytesIn, rtcpPacketsIn, rtpPacketsOut, rtcpPacketsOut, outOfOrder;
  PubU srtpAuthFailures, srtpReplayDrops, rejectedSource, sendErrors;
  PubU srtpSsrcLimitDrops, srtpIndexReuseDrops, jitterClamps;
  Pub<int64_t> packetsLost;
  Pub<double> jitterMs, lastArrivalMs, rttMs, remoteFractionLost, remoteJitterMs;
  Pub<bool> hasRtt, hasRemoteReport;
};

// Outbound protection refused: counted on the leg the packet was for.
bool protectedOk(SrtpStatus st, LiveStats& out) {
  if (st == SrtpStatus::Ok) return true;
  if (st == SrtpStatus::SsrcLimit) out.srtpSsrcLimitDrops.add();
  if (st == SrtpStatus::Replay) out.srtpIndexReuseDrops.add();
  return false;
}

}  // namespace

struct Relay::Leg {
  int rtpFd = -1;
  int rtcpFd = -1;
  int rtpPort = 0;
  int rtcpPort = 0;
  int family = AF_INET;
  bool rtcpMux = false;
  bool signalledOnly = false;
  bool hasRemote = false;
  sockaddr_storage sigRtp{}, sigRtcp{};
  socklen_t sigRtpLen = 0, sigRtcpLen = 0;
  bool latchedRtp = false, latchedRtcp = false;
  sockaddr_storage latRtp{}, latRtcp{};
  socklen_t latRtpLen = 0, latRtcpLen = 0;
  std::unique_ptr<SrtpContext> srtpIn, srtpOut;
  int tePt = -1;
  uint32_t clockRate = 8000;
  RecvStats recv;
  LiveStats st;
  // The latched RTP peer as stats() reports it: written when the relay
  // thread latches (rare) and when updateLeg forgets it; its own small lock
  // so stats() never takes the engine mutex.
  std::mutex latchMu;
  bool pubLatched = false;
  sockaddr_storage pubLat{};
  SrSent srRing[kSrRing];
  int srNext = 0;

  void publishLatch(bool on) {
    std::lock_guard<std::mutex> g(latchMu);
    pubLatched = on;
    if (on) pubLat = latRtp;
  }

  // Where packets for this leg's peer go; nullptr = nowhere known yet.
  const sockaddr_storage* rtpDest(socklen_t* len) const {
    if (!signalledOnly && latchedRtp) {
      *len = latRtpLen;
      return &latRtp;
    }
    if (hasRemote) {
      *len = sigRtpLen;
      return &sigRtp;
    }
    return nullptr;
  }
  const sockaddr_storage* rtcpDest(socklen_t* len) const {
    if (rtcpMux) return rtpDest(len);
    if (!signalledOnly && latchedRtcp) {
      *len = latRtcpLen;
      return &latRtcp;
    }
    if (hasRemote) {
      *len = sigRtcpLen;
      return &sigRtcp;
    }
    return nullptr;
  }
};

struct Relay::Session {
  uint64_t id = 0;
  bool paused = false;
  Leg legs[2];
};

struct Relay::IoBuffers {
  uint8_t bufs[kBatch][kBufSize];
  sockaddr_storage from[kBatch];
  iovec iov[kBatch];
  alignas(cmsghdr) uint8_t ctrl[kBatch][64];
  mmsghdr in[kBatch];
  mmsghdr out[kBatch];
  iovec outIov[kBatch];
  int outFd[kBatch];
  LiveStats* outStats[kBatch];
  bool outRtcp[kBatch];
  int outCount = 0;
};

Relay::Relay(uint64_t firstSessionId) : io_(new IoBuffers()) {
  nextId_ = firstSessionId >= 1 && firstSessionId <= kMaxSessionId ? firstSessionId : 1;
  // Every descriptor and registration is checked: an engine without its
  // wake-up eventfd would have a thread that can never be told to stop, and
  // shutdown() would wait for it forever.
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) {
    initError_ = errnoName(errno);
    return;
  }
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0) {
    initError_ = errnoName(errno);
    close(epfd_);
    epfd_ = -1;
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakeFd_, &ev) != 0) initError_ = errnoName(errno);
  if (initError_.empty()) {
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::system_error& e) {
      initError_ = errnoName(e.code().value());
    }
  }
  if (!initError_.empty()) {
    close(wakeFd_);
    close(epfd_);
    wakeFd_ = epfd_ = -1;
  }
}

Relay::~Relay() { shutdown(); }

static bool applySettings(int family, const LegSettings& s, bool* remoteChanged, std::string* err,
                          sockaddr_storage* sigRtp, socklen_t* sigRtpLen, sockaddr_storage* sigRtcp,
                          socklen_t* sigRtcpLen) {
  *remoteChanged = false;
  if (!s.hasRemote) return true;
  sockaddr_storage r1, r2;
  socklen_t l1, l2;
  if (!parseAddr(s.remoteAddress, s.remoteRtpPort, &r1, &l1, family) ||
      !parseAddr(s.remoteAddress, s.rtcpMux ? s.remoteRtpPort : s.remoteRtcpPort, &r2, &l2, family)) {
    *err = "remote address '" + s.remoteAddress + "' is not an IP address of the local socket's family";
    return false;
  }
  *remoteChanged = !sameAddr(r1, *sigRtp) || !sameAddr(r2, *sigRtcp);
  *sigRtp = r1;
  *sigRtpLen = l1;
  *sigRtcp = r2;
  *sigRtcpLen = l2;
  return true;
}

std::shared_ptr<SrtpStreamTable> Relay::sendTable(const uint8_t keySalt[30]) {
  // Indexed by a digest: no raw key material outlives its session here.
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(keySalt, 30, digest);
  std::string k(reinterpret_cast<const char*>(digest), sizeof digest);
  OPENSSL_cleanse(digest, sizeof digest);
  auto it = sendTables_.find(k);
  if (it != sendTables_.end()) {
    keyOrder_.splice(keyOrder_.begin(), keyOrder_, it->second.second);
    return it->second.first;
  }
  // Forget a few of the least recently used keys no live context holds;
  // tables still in use move to the front (bounded work per call).
  for (int tries = 0; tries < 8 && sendTables_.size() >= kRememberedKeys && !keyOrder_.empty(); tries++) {
    auto last = sendTables_.find(keyOrder_.back());
    if (last->second.first.use_count() == 1) {
      sendTables_.erase(last);
      keyOrder_.pop_back();
    } else {
      keyOrder_.splice(keyOrder_.begin(), keyOrder_, std::prev(keyOrder_.end()));
    }
  }
  auto t = std::make_shared<SrtpStreamTable>();
  keyOrder_.push_front(k);
  sendTables_.emplace(k, std::make_pair(t, keyOrder_.begin()));
  return t;
}

// New SRTP contexts for a leg; with keepSame, a direction whose keys did not
// change keeps its context (ROC, replay window). False on a crypto failure,
// the leg unchanged.
bool Relay::makeSrtp(Leg& l, const LegSettings& s, bool keepSame) {
  if (!s.srtp) {
    l.srtpIn.reset();
    l.srtpOut.reset();
    return true;
  }
  std::unique_ptr<SrtpContext> in, out;
  if (!keepSame || !l.srtpIn || !l.srtpIn->sameKeys(s.srtpInKey, s.srtpInTag)) {
    in.reset(new SrtpContext());
    if (!in->init(s.srtpInKey, s.srtpInTag)) return false;
  }
  if (!keepSame || !l.srtpOut || !l.srtpOut->sameKeys(s.srtpOutKey, s.srtpOutTag)) {
    out.reset(new SrtpContext());
    if (!out->init(s.srtpOutKey, s.srtpOutTag, sendTable(s.srtpOutKey))) return false;
  }
  if (in) l.srtpIn = std::move(in);
  if (out) l.srtpOut = std::move(out);
  return true;
}

std::string Relay::createSession(const LegSettings& a, const LegSettings& b, uint64_t* id, SessionPorts* ports) {
  if (shutDown_) return "ESHUTDOWN";
  if (!initError_.empty()) return initError_;
  std::unique_ptr<Session> sess(new Session());
  const LegSettings* cfg[2] = {&a, &b};
  auto cleanup = [&]() {
    for (auto& l : sess->legs) {
      if (l.rtpFd >= 0) close(l.rtpFd);
      if (l.rtcpFd >= 0) close(l.rtcpFd);
      l.rtpFd = l.rtcpFd = -1;
    }
  };
  for (int i = 0; i < 2; i++) {
    Leg& l = sess->legs[i];
    const LegSettings& s = *cfg[i];
    int e = openSocket(s.localAddress, s.localRtpPort, &l.rtpFd, &l.rtpPort);
    if (e) {
      cleanup();
      return errnoName(e);
    }
    if (!s.rtcpMux) {
      e = openSocket(s.localAddress, s.localRtpPort ? s.localRtpPort + 1 : 0, &l.rtcpFd, &l.rtcpPort);
      if (e) {
        cleanup();
        return errnoName(e);
      }
    }
    sockaddr_storage probe;
    socklen_t pl;
    l.family = parseAddr(s.localAddress, 0, &probe, &pl, 0) ? probe.ss_family : AF_INET;
    l.rtcpMux = s.rtcpMux;
    bool changed;
    std::string err;
    if (!applySettings(l.family, s, &changed, &err, &l.sigRtp, &l.sigRtpLen, &l.sigRtcp, &l.sigRtcpLen)) {
      cleanup();
      return "EINVAL";
    }
    l.hasRemote = s.hasRemote;
    l.signalledOnly = s.signalledOnly;
    l.tePt = s.telephoneEventPt;
    l.clockRate = s.clockRate ? s.clockRate : 8000;
    if (!makeSrtp(l, s, false)) {
      cleanup();
      return "ECRYPTO";
    }
  }
  std::lock_guard<std::mutex> g(mu_);
  if (shutDown_) {
    cleanup();
    return "ESHUTDOWN";
  }
  if (nextId_ > kMaxSessionId || sessions_.count(nextId_)) {
    cleanup();
    return "EOVERFLOW";
  }
  uint64_t sid = nextId_++;
  sess->id = sid;
  int added[4];
  int nAdded = 0;
  for (int i = 0; i < 2; i++) {
    Leg& l = sess->legs[i];
    int fds[2] = {l.rtpFd, l.rtcpFd};
    for (int r = 0; r < 2; r++) {
      if (fds[r] < 0) continue;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = (sid << 2) | (uint64_t(i) << 1) | uint64_t(r);
      // A socket the epoll set refuses (ENOMEM, ENOSPC: max_user_watches)
      // would give a session that never relays: fail the creation instead.
      if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fds[r], &ev) != 0) {
        int e = errno;
        for (int k = 0; k < nAdded; k++) epoll_ctl(epfd_, EPOLL_CTL_DEL, added[k], nullptr);
        cleanup();
        return errnoName(e);
      }
      added[nAdded++] = fds[r];
    }
    ports->rtp[i] = l.rtpPort;
    ports->rtcp[i] = l.rtcpFd >= 0 ? l.rtcpPort : l.rtpPort;
  }
  *id = sid;
  sessions_.emplace(sid, std::move(sess));
  count_.store(sessions_.size(), std::memory_order_relaxed);
  return "";
}

bool Relay::updateLeg(uint64_t id, int leg, const LegSettings& s, std::string* err) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    *err = "no such session";
    return false;
  }
  Leg& l = it->second->legs[leg];
  LegSettings eff = s;
  eff.rtcpMux = l.rtcpMux;
  bool changed = false;
  sockaddr_storage r1 = l.sigRtp, r2 = l.sigRtcp;
  socklen_t l1 = l.sigRtpLen, l2 = l.sigRtcpLen;
  if (!applySettings(l.family, eff, &changed, err, &r1, &l1, &r2, &l2)) return false;
  if (eff.hasRemote != l.hasRemote) changed = true;
  if (eff.signalledOnly != l.signalledOnly) changed = true;
  if (!makeSrtp(l, eff, true)) {
    *err = "SRTP key setup failed";
    return false;
  }
  l.sigRtp = r1;
  l.sigRtpLen = l1;
  l.sigRtcp = r2;
  l.sigRtcpLen = l2;
  l.hasRemote = eff.hasRemote;
  l.signalledOnly = eff.signalledOnly;
  if (changed) {
    // A new offer/answer names a new peer: learn it afresh.
    l.latchedRtp = l.latchedRtcp = false;
    l.publishLatch(false);
  }
  l.tePt = eff.telephoneEventPt;
  uint32_t rate = eff.clockRate ? eff.clockRate : 8000;
  if (rate != l.clockRate) {
    // Arrival times so far are in units of the old rate (RFC 3550 A.8).
    l.recv.resetJitter();
    l.st.jitterMs.set(0);
    l.clockRate = rate;
  }
  return true;
}

bool Relay::setPaused(uint64_t id, bool paused) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  it->second->paused = paused;
  return true;
}

// No engine lock: only this (JavaScript) thread changes sessions_, and the
// counters are atomics the relay thread publishes as it goes.
bool Relay::stats(uint64_t id, LegStats out[2]) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  for (int i = 0; i < 2; i++) {
    const LiveStats& st = it->second->legs[i].st;
    LegStats& o = out[i];
    o.rtpPacketsIn = st.rtpPacketsIn.get();
    o.rtpBytesIn = st.rtpBytesIn.get();
    o.rtcpPacketsIn = st.rtcpPacketsIn.get();
    o.rtpPacketsOut = st.rtpPacketsOut.get();
    o.rtcpPacketsOut = st.rtcpPacketsOut.get();
    o.packetsLost = st.packetsLost.get();
    o.outOfOrder = st.outOfOrder.get();
    o.jitterMs = st.jitterMs.get();
    o.lastArrivalMs = st.lastArrivalMs.get();
    o.srtpAuthFailures = st.srtpAuthFailures.get();
    o.srtpReplayDrops = st.srtpReplayDrops.get();
    o.rejectedSource = st.rejectedSource.get();
    o.sendErrors = st.sendErrors.get();
    o.srtpSsrcLimitDrops = st.srtpSsrcLimitDrops.get();
    o.srtpIndexReuseDrops = st.srtpIndexReuseDrops.get();
    o.jitterClamps = st.jitterClamps.get();
    o.hasRtt = st.hasRtt.get();
    o.rttMs = st.rttMs.get();
    o.hasRemoteReport = st.hasRemoteReport.get();
    o.remoteFractionLost = st.remoteFractionLost.get();
    o.remoteJitterMs = st.remoteJitterMs.get();
    Leg& l = it->second->legs[i];
    std::lock_guard<std::mutex> g(l.latchMu);
    o.latched = l.pubLatched;
    if (l.pubLatched) addrToString(l.pubLat, &o.latchedAddress, &o.latchedPort);
  }
  return true;
}

void Relay::closeLocked(Session* s) {
  for (auto& l : s->legs) {
    if (l.rtpFd >= 0) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, l.rtpFd, nullptr);
      close(l.rtpFd);
    }
    if (l.rtcpFd >= 0) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, l.rtcpFd, nullptr);
      close(l.rtcpFd);
    }
    l.rtpFd = l.rtcpFd = -1;
  }
}

bool Relay::closeSession(uint64_t id) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  closeLocked(it->second.get());
  sessions_.erase(it);
  count_.store(sessions_.size(), std::memory_order_relaxed);
  return true;
}

void Relay::shutdown() {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (shutDown_) return;
    shutDown_ = true;
  }
  stop_.store(true);
  if (thread_.joinable()) {
    // The thread exists only when the eventfd is in its epoll set (see the
    // constructor), so this write always wakes it.
    uint64_t one = 1;
    ssize_t r = write(wakeFd_, &one, sizeof one);
    (void)r;
    thread_.join();
  }
  std::lock_guard<std::mutex> g(mu_);
  for (auto& kv : sessions_) closeLocked(kv.second.get());
  sessions_.clear();
  count_.store(0, std::memory_order_relaxed);
  if (wakeFd_ >= 0) close(wakeFd_);
  if (epfd_ >= 0) close(epfd_);
  wakeFd_ = epfd_ = -1;
}

void Relay::testArmHold(int timeoutMs) {
  holdRelease_.store(false);
  holdTimeoutMs_ = timeoutMs < 1 ? 1 : timeoutMs > 10000 ? 10000 : timeoutMs;
  holdState_.store(1);
}

bool Relay::testReleaseRound() {
  holdRelease_.store(true);
  timespec ms{0, 1000000};
  // The relay thread notices within a millisecond; bounded either way.
  for (int t = 0; t < 12000 && holdState_.load() < 3 && holdState_.load() != 0; t++) nanosleep(&ms, nullptr);
  bool timedOut = holdState_.load() == 4;
  holdState_.store(0);
  return timedOut;
}

void Relay::run() {
  epoll_event evs[64];
  while (!stop_.load()) {
    int n = epoll_wait(epfd_, evs, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n && !stop_.load(std::memory_order_relaxed); i++) {
      if (evs[i].data.u64 == kWakeTag) continue;
      // The engine mutex is held for one round (at most kBatch packets of
      // one socket), never for the whole epoll batch: createSession,
      // updateLeg and closeSession wait for at most one round.
      for (int round = 0; round < kRoundsPerEvent; round++) {
        std::lock_guard<std::mutex> g(mu_);
        bool more = receiveRound(evs[i].data.u64);
        if (holdState_.load(std::memory_order_relaxed) == 1) {
          // Test hook: keep the engine mutex (see testArmHold).
          holdState_.store(2);
          timespec ms{0, 1000000};
          for (int t = 0; t < holdTimeoutMs_ && !holdRelease_.load(); t++) nanosleep(&ms, nullptr);
          holdState_.store(holdRelease_.load() ? 3 : 4);
        }
        if (!more) break;
      }
    }
  }
}

void Relay::flush() {
  IoBuffers& io = *io_;
  int i = 0;
  while (i < io.outCount) {
    int j = i + 1;
    while (j < io.outCount && io.outFd[j] == io.outFd[i]) j++;
    int k = i;
    while (k < j) {
      int r = sendmmsg(io.outFd[k], &io.out[k], unsigned(j - k), MSG_DONTWAIT);
      if (r <= 0) {
        // Full socket buffer or an unreachable peer: UDP semantics, drop it.
        io.outStats[k]->sendErrors.add();
        k++;
        continue;
      }
      for (int m = k; m < k + r; m++) {
        if (io.outRtcp[m])
          io.outStats[m]->rtcpPacketsOut.add();
        else
          io.outStats[m]->rtpPacketsOut.add();
      }
      k += r;
    }
    i = j;
  }
  io.outCount = 0;
}

// One recvmmsg/sendmmsg round on the socket named by `tag`, under the
// engine mutex. True when the socket may hold more packets.
bool Relay::receiveRound(uint64_t tag) {
  uint64_t id = tag >> 2;
  int x = int((tag >> 1) & 1);
  bool rtcpSock = (tag & 1) != 0;
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;  // closed after epoll_wait returned
  Session& s = *it->second;
  Leg& in = s.legs[x];
  Leg& out = s.legs[1 - x];
  int fd = rtcpSock ? in.rtcpFd : in.rtpFd;
  if (fd < 0) return false;
  IoBuffers& io = *io_;
  {
    for (int i = 0; i < kBatch; i++) {
      io.iov[i].iov_base = io.bufs[i];
      io.iov[i].iov_len = kRecvLen;
      msghdr& h = io.in[i].msg_hdr;
      h.msg_name = &io.from[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &io.iov[i];
      h.msg_iovlen = 1;
      h.msg_control = io.ctrl[i];
      h.msg_controllen = sizeof io.ctrl[i];
      h.msg_flags = 0;
    }
    int n = recvmmsg(fd, io.in, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return false;
    double batchMs = nowRealMs();
    uint32_t compact = nowCompact();
    io.outCount = 0;
    for (int i = 0; i < n; i++) {
      msghdr& h = io.in[i].msg_hdr;
      if (h.msg_flags & MSG_TRUNC) continue;
      uint8_t* pkt = io.bufs[i];
      size_t len = io.in[i].msg_len;
      const sockaddr_storage& src = io.from[i];
      double arrivalMs = batchMs;
      for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec ts;
          std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
          arrivalMs = double(ts.tv_sec) * 1000.0 + double(ts.tv_nsec) / 1e6;
        }
      }
      if (len < 8 || (pkt[0] >> 6) != 2) continue;
      bool isRtcp = rtcpSock;
      if (!isRtcp && in.rtcpMux) {
        uint8_t pt = pkt[1] & 0x7f;
        isRtcp = pt >= 64 && pt <= 95;  // RFC 5761 section 4
      }

      // Latching / source check.
      bool rtcpPath = rtcpSock;  // which latch slot: mux RTCP shares the RTP one
      if (in.signalledOnly) {
        const sockaddr_storage& expect = rtcpPath ? in.sigRtcp : in.sigRtp;
        if (!in.hasRemote || !sameAddr(src, expect)) {
          in.st.rejectedSource.add();
          continue;
        }
      } else {
        bool& latched = rtcpPath ? in.latchedRtcp : in.latchedRtp;
        sockaddr_storage& lat = rtcpPath ? in.latRtcp : in.latRtp;
        if (latched && !sameAddr(src, lat)) {
          in.st.rejectedSource.add();
          continue;
        }
      }

      if (isRtcp) {
        if (in.srtpIn) {
          SrtpStatus st = in.srtpIn->unprotectRtcp(pkt, len);
          if (st == SrtpStatus::Replay) {
            in.st.srtpReplayDrops.add();
            continue;
          }
          if (st == SrtpStatus::SsrcLimit) {
            in.st.srtpSsrcLimitDrops.add();
            continue;
          }
          if (st != SrtpStatus::Ok) {
            in.st.srtpAuthFailures.add();
            continue;
          }
        }
      } else {
        if (len < 12) continue;
        if (in.srtpIn) {
          SrtpStatus st = in.srtpIn->unprotectRtp(pkt, len);
          if (st == SrtpStatus::Replay) {
            in.st.srtpReplayDrops.add();
            continue;
          }
          if (st == SrtpStatus::SsrcLimit) {
            in.st.srtpSsrcLimitDrops.add();
            continue;
          }
          if (st != SrtpStatus::Ok) {
            in.st.srtpAuthFailures.add();
            continue;
          }
        } else if (!rtpHeaderLength(pkt, len)) {
          continue;
        }
      }

      // Accepted: learn the peer now (only authenticated packets may move it).
      {
        bool& latched = rtcpPath ? in.latchedRtcp : in.latchedRtp;
        if (!latched) {
          latched = true;
          if (rtcpPath) {
            in.latRtcp = src;
            in.latRtcpLen = h.msg_namelen;
          } else {
            in.latRtp = src;
            in.latRtpLen = h.msg_namelen;
            in.publishLatch(true);
          }
        }
      }

      uint32_t srNtpMid = 0;
      bool hasSr = false;
      if (isRtcp) {
        in.st.rtcpPacketsIn.add();
        // Walk the compound packet for SR/RR report blocks.
        size_t off = 0;
        while (off + 8 <= len) {
          uint8_t rc = pkt[off] & 0x1f;
          uint8_t pt = pkt[off + 1];
          size_t plen = (size_t(rd16(pkt + off + 2)) + 1) * 4;
          if ((pkt[off] >> 6) != 2 || off + plen > len) break;
          size_t blocks = 0;
          if (pt == 200 && plen >= 28) {
            srNtpMid = rd32(pkt + off + 10);
            hasSr = true;
            blocks = off + 28;
          } else if (pt == 201) {
            blocks = off + 8;
          }
          if (blocks && rc > 0 && blocks + 24 <= off + plen) {
            const uint8_t* b = pkt + blocks;
            in.st.remoteFractionLost.set(double(b[4]) / 256.0);
            in.st.remoteJitterMs.set(double(rd32(b + 12)) / double(in.clockRate) * 1000.0);
            in.st.hasRemoteReport.set(true);
            uint32_t lsr = rd32(b + 16);
            uint32_t dlsr = rd32(b + 20);
            if (lsr) {
              for (auto& e : in.srRing) {
                if (e.used && e.ntpMid == lsr) {
                  int32_t rtt = int32_t(compact - e.sentAt - dlsr);
                  in.st.rttMs.set(rtt > 0 ? double(rtt) * 1000.0 / 65536.0 : 0.0);
                  in.st.hasRtt.set(true);
                  break;
                }
              }
            }
          }
          off += plen;
        }
      } else {
        in.st.rtpPacketsIn.add();
        in.st.rtpBytesIn.add(len);
        in.st.lastArrivalMs.set(arrivalMs);
        if (!in.recv.update(rd32(pkt + 8), rd16(pkt + 2), rd32(pkt + 4), arrivalMs * double(in.clockRate) / 1000.0,
                            in.clockRate))
          in.st.jitterClamps.add();
        int64_t lost = in.recv.lost();
        in.st.packetsLost.set(lost < 0 ? 0 : lost);
        in.st.outOfOrder.set(in.recv.outOfOrder);
        in.st.jitterMs.set(in.recv.jitter / double(in.clockRate) * 1000.0);
      }

      if (s.paused) continue;
      socklen_t dlen = 0;
      const sockaddr_storage* dest = isRtcp ? out.rtcpDest(&dlen) : out.rtpDest(&dlen);
      int ofd = isRtcp && !out.rtcpMux ? out.rtcpFd : out.rtpFd;
      if (!dest || ofd < 0) continue;

      if (isRtcp) {
        if (hasSr) {
          SrSent& e = out.srRing[out.srNext];
          out.srNext = (out.srNext + 1) % kSrRing;
          e.used = true;
          e.ntpMid = srNtpMid;
          e.sentAt = compact;
        }
        if (out.srtpOut && !protectedOk(out.srtpOut->protectRtcp(pkt, len, kBufSize), out.st)) continue;
      } else {
        if (in.tePt >= 0 && out.tePt >= 0 && in.tePt != out.tePt && (pkt[1] & 0x7f) == in.tePt)
          pkt[1] = uint8_t((pkt[1] & 0x80) | out.tePt);
        if (out.srtpOut && !protectedOk(out.srtpOut->protectRtp(pkt, len, kBufSize), out.st)) continue;
      }

      int k = io.outCount++;
      io.outIov[k].iov_base = pkt;
      io.outIov[k].iov_len = len;
      msghdr& oh = io.out[k].msg_hdr;
      std::memset(&oh, 0, sizeof oh);
      oh.msg_name = const_cast<sockaddr_storage*>(dest);
      oh.msg_namelen = dlen;
      oh.msg_iov = &io.outIov[k];
      oh.msg_iovlen = 1;
      io.outFd[k] = ofd;
      io.outStats[k] = &out.st;
      io.outRtcp[k] = isRtcp;
    }
    flush();
    return n == kBatch;
  }
}

}  // namespace mr
