// The relay thread: epoll loop, receive rounds (recvmmsg), latching, SRTP,
// RTCP report parsing, receive statistics and sendmmsg. Runs under the
// engine mutex, handed to a waiting JavaScript call between rounds (see
// relay.h).
#include <errno.h>
#include <sched.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "net.h"
#include "relay-internal.h"

namespace mr {

namespace {

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

}  // namespace

void Relay::run() {
  epoll_event evs[64];
  while (!stop_.load()) {
    int n = epoll_wait(epfd_, evs, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    // One lock per epoll batch (the uncontended case costs nothing per
    // packet), but a JavaScript call that needs the engine mutex is let in
    // after the current round (at most kBatch packets of one socket): it
    // announces itself in jsWaiters_ (see lockForJs), so createSession,
    // updateLeg and closeSession never wait for the rest of the batch.
    std::unique_lock<std::mutex> g(mu_);
    for (int i = 0; i < n && !stop_.load(std::memory_order_relaxed); i++) {
      if (evs[i].data.u64 == kWakeTag) continue;
      for (int round = 0; round < kRoundsPerEvent; round++) {
        bool more = receiveRound(evs[i].data.u64);
        if (holdState_.load(std::memory_order_acquire) == 1) {
          // Test hook: keep the engine mutex (see testArmHold).
          holdState_.store(2);
          timespec ms{0, 1000000};
          for (int t = 0; t < holdTimeoutMs_ && !holdRelease_.load(); t++) nanosleep(&ms, nullptr);
          holdState_.store(holdRelease_.load() ? 3 : 4);
        }
        if (jsWaiters_.load(std::memory_order_acquire) != 0) {
          g.unlock();
          // std::mutex is not fair: wait until every announced caller has
          // the lock before taking it back (they hold it for microseconds).
          while (jsWaiters_.load(std::memory_order_acquire) != 0) sched_yield();
          g.lock();
        }
        if (!more) break;
      }
    }
  }
}

void Relay::flush() {
  IoBuffers& io = *io_;
  int i = 0;
  uint64_t sent = 0;
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
      sent += uint64_t(r);
      k += r;
    }
    i = j;
  }
  io.outCount = 0;
  // One relaxed add per batch, not per packet: read lock-free by packetsRelayed().
  if (sent > 0) relayed_.fetch_add(sent, std::memory_order_relaxed);
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
    for (int i = 0; i < io.dirty; i++) io.resetIn(i);
    int n = recvmmsg(fd, io.in, kBatch, MSG_DONTWAIT, nullptr);
    io.dirty = n > 0 ? n : 0;
    if (n <= 0) return false;
    // Clock reads only when needed: arrival comes from the kernel's receive
    // timestamp (SO_TIMESTAMPNS), our own clock is the fallback; the compact
    // clock is for RTCP (RTT) only. No clock read per RTP packet.
    double batchMs = -1;
    uint32_t compact = 0;
    bool haveCompact = false;
    io.outCount = 0;
    for (int i = 0; i < n; i++) {
      msghdr& h = io.in[i].msg_hdr;
      if (h.msg_flags & MSG_TRUNC) continue;
      uint8_t* pkt = io.bufs[i];
      size_t len = io.in[i].msg_len;
      const sockaddr_storage& src = io.from[i];
      double arrivalMs = -1;
      for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec ts;
          std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
          arrivalMs = double(ts.tv_sec) * 1000.0 + double(ts.tv_nsec) / 1e6;
        }
      }
      if (arrivalMs < 0) {
        if (batchMs < 0) batchMs = nowRealMs();
        arrivalMs = batchMs;
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
      if (isRtcp && !haveCompact) {
        compact = nowCompact();
        haveCompact = true;
      }
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
            // The peer's jitter in our timestamp units; a value beyond the
            // discontinuity bound our own estimator applies is not jitter
            // (a broken or hostile reporter): keep the last plausible value
            // and count it, so QoE never shows absurd figures.
            double remoteJitter = double(rd32(b + 12));
            if (remoteJitter <= kMaxTransitDeltaSec * double(in.clockRate))
              in.st.remoteJitterMs.set(remoteJitter / double(in.clockRate) * 1000.0);
            else
              in.st.remoteJitterClamps.add();
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

      if (s.paused.load(std::memory_order_relaxed)) continue;
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
