// The relay thread: owns every media socket, moves packets between the two
// legs of a session. JavaScript reaches it only through Relay's public
// methods. createSession, updateLeg and closeSession take the engine mutex.
// The relay thread takes it once per epoll batch and hands it over after the
// current receive round (at most kBatch packets of one socket) when a
// JavaScript call has announced that it waits (lockForJs), so such a call
// waits for at most one round, never for a whole batch. stats(),
// sessionCount() and setPaused() take no engine lock at all: they read
// counters the thread publishes with relaxed atomic stores (or set an atomic
// flag), so they never wait behind packet processing.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <list>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "srtp.h"

namespace mr {

struct LegSettings {
  std::string localAddress;
  int localRtpPort = 0;
  bool rtcpMux = false;
  bool hasRemote = false;
  std::string remoteAddress;
  int remoteRtpPort = 0;
  int remoteRtcpPort = 0;
  bool signalledOnly = false;
  bool srtp = false;
  uint8_t srtpInKey[30] = {0};
  int srtpInTag = 10;
  uint8_t srtpOutKey[30] = {0};
  int srtpOutTag = 10;
  int telephoneEventPt = -1;
  uint32_t clockRate = 8000;
};

struct LegStats {
  uint64_t rtpPacketsIn = 0, rtpBytesIn = 0, rtcpPacketsIn = 0;
  uint64_t rtpPacketsOut = 0, rtcpPacketsOut = 0;
  int64_t packetsLost = 0;
  uint64_t outOfOrder = 0;
  double jitterMs = 0;
  double lastArrivalMs = 0;
  uint64_t srtpAuthFailures = 0, srtpReplayDrops = 0, rejectedSource = 0;
  bool latched = false;
  std::string latchedAddress;
  int latchedPort = 0;
  bool hasRtt = false;
  double rttMs = 0;
  bool hasRemoteReport = false;
  double remoteFractionLost = 0;
  double remoteJitterMs = 0;
  uint64_t sendErrors = 0;
  uint64_t srtpSsrcLimitDrops = 0;  // a new SSRC beyond SrtpContext::kMaxStreams
  uint64_t srtpIndexReuseDrops = 0;  // outbound index already used (RFC 3711 9.2)
  uint64_t jitterClamps = 0;  // transit differences skipped as discontinuities
  uint64_t remoteJitterClamps = 0;  // peer-reported jitter beyond the same bound, ignored
};

struct SessionPorts {
  int rtp[2];
  int rtcp[2];
};

// Session ids are 64-bit and never reused within an engine (they fit the
// epoll tag with two flag bits and stay exact as JavaScript numbers).
constexpr uint64_t kMaxSessionId = (uint64_t(1) << 53) - 1;

class Relay {
 public:
  explicit Relay(uint64_t firstSessionId = 1);
  ~Relay();
  // "" when the epoll set, the wake-up eventfd and the thread all exist;
  // otherwise the errno name of what failed (EMFILE, ENFILE, ENOMEM...).
  const std::string& initError() const { return initError_; }

  // All public methods are called from the one JavaScript thread that owns
  // the engine; only that thread changes sessions_.
  // Return an errno-style code name ("" on success) and fill *id.
  std::string createSession(const LegSettings& a, const LegSettings& b, uint64_t* id, SessionPorts* ports);
  bool updateLeg(uint64_t id, int leg, const LegSettings& s, std::string* err);
  bool setPaused(uint64_t id, bool paused);
  bool stats(uint64_t id, LegStats out[2]);
  bool closeSession(uint64_t id);
  size_t sessionCount() const { return count_.load(std::memory_order_relaxed); }
  // RTP and RTCP packets sent on to a peer since the engine started (all sessions, closed ones included).
  uint64_t packetsRelayed() const { return relayed_.load(std::memory_order_relaxed); }
  void shutdown();

  // Test hook: the relay thread's next round keeps the engine mutex until
  // testReleaseRound() (or timeoutMs), so a test can check which JS calls
  // wait for packet processing. testHoldState(): 0 idle, 1 armed, 2 holding,
  // 3 released, 4 timed out. testReleaseRound() returns true when the hold
  // had timed out, i.e. the JS thread was blocked behind it.
  void testArmHold(int timeoutMs);
  int testHoldState() const { return holdState_.load(); }
  bool testReleaseRound();

 private:
  struct Session;
  struct Leg;
  struct IoBuffers;
  void run();
  bool receiveRound(uint64_t tag);
  void flush();
  void closeLocked(Session* s);
  // The engine mutex for a JavaScript-thread method (see the top comment).
  std::unique_lock<std::mutex> lockForJs();
  std::shared_ptr<SrtpStreamTable> sendTable(const uint8_t keySalt[30]);
  bool makeSrtp(Leg& l, const LegSettings& s, bool keepSame);

  std::string initError_;
  int epfd_ = -1;
  int wakeFd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::atomic<int> jsWaiters_{0};
  std::unique_ptr<IoBuffers> io_;  // touched by the relay thread only
  std::unordered_map<uint64_t, std::unique_ptr<Session>> sessions_;
  std::atomic<size_t> count_{0};
  std::atomic<uint64_t> relayed_{0};
  uint64_t nextId_ = 1;
  bool shutDown_ = false;
  std::atomic<int> holdState_{0};
  std::atomic<bool> holdRelease_{false};
  int holdTimeoutMs_ = 0;
  // Outbound SRTP state by master key, so a key that comes back (relay
  // rebuilt for an rtcp-mux change, SRTP switched off and on, a suite
  // toggled back) continues its ROC/SRTCP index instead of restarting at 0
  // (RFC 3711 9.2). Entries no live context uses are kept, least recently
  // used first out, up to kRememberedKeys. JavaScript thread only.
  static constexpr size_t kRememberedKeys = 4096;
  std::list<std::string> keyOrder_;  // most recently used first
  std::unordered_map<std::string, std::pair<std::shared_ptr<SrtpStreamTable>, std::list<std::string>::iterator>> sendTables_;
};

}  // namespace mr
