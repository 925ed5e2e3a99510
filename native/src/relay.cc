// Relay control: engine start/stop, sessions, settings and stats, called
// from the JavaScript thread. The packet path is in relay-io.cc.
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <chrono>
#include <cstring>
#include <system_error>

#include "net.h"
#include "relay-internal.h"

namespace mr {

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

// The relay thread lets an announced caller in after its current round
// (see run()). Spin for about a round before sleeping on the mutex: a
// futex wake-up is a scheduling round trip, far longer than a round when
// the machine is busy.
std::unique_lock<std::mutex> Relay::lockForJs() {
  jsWaiters_.fetch_add(1, std::memory_order_acq_rel);
  std::unique_lock<std::mutex> g(mu_, std::try_to_lock);
  if (!g.owns_lock()) {
    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kJsSpinUs);
    for (int i = 1; !g.try_lock(); i++) {
      cpuRelax();
      if ((i & 255) == 0 && std::chrono::steady_clock::now() > until) {
        g.lock();
        break;
      }
    }
  }
  jsWaiters_.fetch_sub(1, std::memory_order_acq_rel);
  return g;
}

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
  auto g = lockForJs();
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
  auto g = lockForJs();
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

// No engine lock, as in stats(): only this thread changes sessions_; the
// relay thread reads the flag per packet.
bool Relay::setPaused(uint64_t id, bool paused) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  it->second->paused.store(paused, std::memory_order_relaxed);
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
    o.remoteJitterClamps = st.remoteJitterClamps.get();
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
  auto g = lockForJs();
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  closeLocked(it->second.get());
  sessions_.erase(it);
  count_.store(sessions_.size(), std::memory_order_relaxed);
  return true;
}

void Relay::shutdown() {
  {
    auto g = lockForJs();
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
  auto g = lockForJs();
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

}  // namespace mr
