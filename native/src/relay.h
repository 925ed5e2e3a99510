// The relay thread: owns every media socket, moves packets between the two
// legs of a session. JavaScript reaches it only through Relay's public
// methods, which take the same mutex the thread holds while it handles a
// batch of readiness events.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
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
};

struct SessionPorts {
  int rtp[2];
  int rtcp[2];
};

class Relay {
 public:
  Relay();
  ~Relay();
  bool ok() const { return epfd_ >= 0; }

  // Return an errno-style code name ("" on success) and fill *id.
  std::string createSession(const LegSettings& a, const LegSettings& b, uint32_t* id, SessionPorts* ports);
  bool updateLeg(uint32_t id, int leg, const LegSettings& s, std::string* err);
  bool setPaused(uint32_t id, bool paused);
  bool stats(uint32_t id, LegStats out[2]);
  bool closeSession(uint32_t id);
  size_t sessionCount();
  void shutdown();

 private:
  struct Session;
  struct Leg;
  struct IoBuffers;
  void run();
  void onReadable(uint64_t tag);
  void flush(int idx);
  void closeLocked(Session* s);

  int epfd_ = -1;
  int wakeFd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::unique_ptr<IoBuffers> io_;  // touched by the relay thread only
  std::unordered_map<uint32_t, std::unique_ptr<Session>> sessions_;
  uint32_t nextId_ = 1;
  bool shutDown_ = false;
};

}  // namespace mr
