// Internals shared by relay.cc (control: sessions, settings, stats) and
// relay-io.cc (the relay thread's packet path): per-leg state, receive
// statistics and the counters published to JavaScript.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>

#include "relay.h"
#include "srtp.h"

namespace mr {

constexpr int kBatch = 32;
constexpr size_t kBufSize = 2048;
// Leave room behind every received packet for the SRTP/SRTCP trailer added
// when it is protected in place on the way out.
constexpr size_t kRecvLen = kBufSize - 64;
constexpr int kRoundsPerEvent = 4;
// How long a JavaScript call spins for the engine mutex before it sleeps on
// it: about one receive round of kBatch packets.
constexpr int kJsSpinUs = 200;

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
constexpr uint64_t kWakeTag = ~uint64_t(0);
constexpr int kSrRing = 4;
// A transit-time difference above this is a timestamp discontinuity (sender
// restart, a gap without timestamp advance), not jitter: RFC 3550 A.8
// assumes continuous timestamps. Such samples are skipped and counted.
constexpr double kMaxTransitDeltaSec = 3.0;

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
  PubU srtpSsrcLimitDrops, srtpIndexReuseDrops, jitterClamps, remoteJitterClamps;
  Pub<int64_t> packetsLost;
  Pub<double> jitterMs, lastArrivalMs, rttMs, remoteFractionLost, remoteJitterMs;
  Pub<bool> hasRtt, hasRemoteReport;
  // NaN until a plausible peer-reported jitter arrived (stats() gives null).
  LiveStats() { remoteJitterMs.set(std::nan("")); }
};

// Outbound protection refused: counted on the leg the packet was for.
inline bool protectedOk(SrtpStatus st, LiveStats& out) {
  if (st == SrtpStatus::Ok) return true;
  if (st == SrtpStatus::SsrcLimit) out.srtpSsrcLimitDrops.add();
  if (st == SrtpStatus::Replay) out.srtpIndexReuseDrops.add();
  return false;
}

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
  std::atomic<bool> paused{false};  // set by the JS thread without the engine mutex
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
  // Receive headers whose in/out fields (name and control lengths, flags)
  // recvmmsg overwrote in the last round; only those are reset before the
  // next one, the pointers are set once here.
  int dirty = 0;

  IoBuffers() {
    for (int i = 0; i < kBatch; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = kRecvLen;
      msghdr& h = in[i].msg_hdr;
      h.msg_name = &from[i];
      h.msg_iov = &iov[i];
      h.msg_iovlen = 1;
      h.msg_control = ctrl[i];
      resetIn(i);
    }
  }
  void resetIn(int i) {
    msghdr& h = in[i].msg_hdr;
    h.msg_namelen = sizeof(sockaddr_storage);
    h.msg_controllen = sizeof ctrl[i];
    h.msg_flags = 0;
  }
};

}  // namespace mr
