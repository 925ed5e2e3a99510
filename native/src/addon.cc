// N-API surface of the media relay: one Engine class (a relay thread and its
// sockets) plus small SRTP hooks used by the unit tests to compare this code
// with the JavaScript implementation byte for byte.
#include <napi.h>

#include <cmath>
#include <cstring>

#include "relay.h"
#include "sip-udp.h"
#include "sip-udp-shard.h"
#include "srtp.h"

namespace {

using mr::LegSettings;
using mr::LegStats;

Napi::Value throwCode(const Napi::Env& env, const std::string& code, const std::string& msg);

// Everything from JavaScript is checked here, without ever throwing while an
// exception is pending (a getter that throws leaves one pending; a second
// throw on top of it aborts the process). Numbers must be integers in
// range: a port of 2^31-1 must not reach `port + 1` in C++.
class LegReader {
 public:
  LegReader(const Napi::Env& env, Napi::Object o, const char* leg) : env_(env), o_(o), leg_(leg) {}

  // o[k]; false (exception pending) when the getter threw.
  bool get(const char* k, Napi::Value* out) {
    Napi::Value v = o_.Get(k);
    if (env_.IsExceptionPending()) return false;
    *out = v;
    return true;
  }
  bool fail(const std::string& what) {
    throwCode(env_, "EINVAL", std::string("relay leg ") + leg_ + ": " + what);
    return false;
  }
  // Integer in [lo, hi]; `def` when undefined or null.
  bool integer(const char* k, int64_t lo, int64_t hi, int64_t def, int64_t* out) {
    Napi::Value x;
    if (!get(k, &x)) return false;
    if (x.IsUndefined() || x.IsNull()) {
      *out = def;
      return true;
    }
    if (!x.IsNumber()) return fail(std::string(k) + " must be a number");
    double d = x.As<Napi::Number>().DoubleValue();
    if (!(d >= double(lo) && d <= double(hi)) || d != double(int64_t(d)))
      return fail(std::string(k) + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
    *out = int64_t(d);
    return true;
  }
  bool flag(const char* k, bool* out) {
    Napi::Value x;
    if (!get(k, &x)) return false;
    *out = x.IsBoolean() && x.As<Napi::Boolean>().Value();
    return true;
  }
  // String value; *present false when undefined/null.
  bool string(const char* k, std::string* out, bool* present) {
    Napi::Value x;
    if (!get(k, &x)) return false;
    *present = !(x.IsUndefined() || x.IsNull());
    if (!*present) return true;
    if (!x.IsString()) return fail(std::string(k) + " must be a string");
    *out = x.As<Napi::String>().Utf8Value();
    if (out->size() > 64) return fail(std::string(k) + " too long");
    return true;
  }
  // 30-byte key buffer; *present false when undefined/null.
  bool key(const char* k, uint8_t* out, bool* present) {
    Napi::Value x;
    if (!get(k, &x)) return false;
    *present = !(x.IsUndefined() || x.IsNull());
    if (!*present) return true;
    if (!x.IsBuffer()) return fail(std::string(k) + " must be a 30-byte buffer");
    auto b = x.As<Napi::Buffer<uint8_t>>();
    if (b.Length() != 30) return fail(std::string(k) + " must be a 30-byte buffer");
    std::memcpy(out, b.Data(), 30);
    return true;
  }

 private:
  Napi::Env env_;
  Napi::Object o_;
  const char* leg_;
};

bool readLeg(const Napi::Env& env, const Napi::Value& v, const char* leg, LegSettings* s) {
  if (!v.IsObject()) {
    throwCode(env, "EINVAL", std::string("relay leg ") + leg + ": settings must be an object");
    return false;
  }
  LegReader r(env, v.As<Napi::Object>(), leg);
  bool present = false;
  int64_t n = 0;
  if (!r.string("localAddress", &s->localAddress, &present)) return false;
  if (!present) return r.fail("localAddress must be a string");
  if (!r.integer("localRtpPort", 0, 65535, 0, &n)) return false;
  s->localRtpPort = int(n);
  if (!r.flag("rtcpMux", &s->rtcpMux)) return false;
  if (!s->rtcpMux && s->localRtpPort == 65535) return r.fail("localRtpPort 65535 leaves no port for RTCP");
  if (!r.string("remoteAddress", &s->remoteAddress, &s->hasRemote)) return false;
  if (!r.integer("remoteRtpPort", 0, 65535, 0, &n)) return false;
  s->remoteRtpPort = int(n);
  if (!r.integer("remoteRtcpPort", 0, 65535, 0, &n)) return false;
  s->remoteRtcpPort = int(n);
  if (!r.flag("signalledOnly", &s->signalledOnly)) return false;
  if (!r.integer("telephoneEventPt", -1, 127, -1, &n)) return false;
  s->telephoneEventPt = int(n);
  if (!r.integer("clockRate", 1000, 192000, 8000, &n)) return false;
  s->clockRate = uint32_t(n);
  bool outPresent = false;
  if (!r.key("srtpInKey", s->srtpInKey, &s->srtp) || !r.key("srtpOutKey", s->srtpOutKey, &outPresent)) return false;
  if (s->srtp != outPresent) return r.fail("srtpInKey and srtpOutKey go together");
  if (!r.integer("srtpInTag", 4, 10, 10, &n)) return false;
  s->srtpInTag = int(n);
  if (!r.integer("srtpOutTag", 4, 10, 10, &n)) return false;
  s->srtpOutTag = int(n);
  return true;
}

// A session id from JavaScript: an integer 1..2^53-1 (ids are 64-bit).
bool readId(const Napi::Value& v, uint64_t* id) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 1 && d <= double(mr::kMaxSessionId)) || d != double(uint64_t(d))) return false;
  *id = uint64_t(d);
  return true;
}

Napi::Object legStatsToJs(const Napi::Env& env, const LegStats& st) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("rtpPacketsIn", double(st.rtpPacketsIn));
  o.Set("rtpBytesIn", double(st.rtpBytesIn));
  o.Set("rtcpPacketsIn", double(st.rtcpPacketsIn));
  o.Set("rtpPacketsOut", double(st.rtpPacketsOut));
  o.Set("rtcpPacketsOut", double(st.rtcpPacketsOut));
  o.Set("packetsLost", double(st.packetsLost));
  o.Set("outOfOrder", double(st.outOfOrder));
  o.Set("jitterMs", st.jitterMs);
  o.Set("lastArrivalMs", st.lastArrivalMs);
  o.Set("srtpAuthFailures", double(st.srtpAuthFailures));
  o.Set("srtpReplayDrops", double(st.srtpReplayDrops));
  o.Set("rejectedSource", double(st.rejectedSource));
  o.Set("sendErrors", double(st.sendErrors));
  o.Set("srtpSsrcLimitDrops", double(st.srtpSsrcLimitDrops));
  o.Set("srtpIndexReuseDrops", double(st.srtpIndexReuseDrops));
  o.Set("jitterClamps", double(st.jitterClamps));
  o.Set("remoteJitterClamps", double(st.remoteJitterClamps));
  if (st.latched) {
    o.Set("latchedAddress", st.latchedAddress);
    o.Set("latchedPort", st.latchedPort);
  } else {
    o.Set("latchedAddress", env.Null());
    o.Set("latchedPort", env.Null());
  }
  o.Set("rttMs", st.hasRtt ? Napi::Value(Napi::Number::New(env, st.rttMs)) : env.Null());
  o.Set("remoteFractionLost",
        st.hasRemoteReport ? Napi::Value(Napi::Number::New(env, st.remoteFractionLost)) : env.Null());
  o.Set("remoteJitterMs", std::isfinite(st.remoteJitterMs) ? Napi::Value(Napi::Number::New(env, st.remoteJitterMs)) : env.Null());
  return o;
}

Napi::Value throwCode(const Napi::Env& env, const std::string& code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {InstanceMethod("createSession", &Engine::CreateSession),
                        InstanceMethod("updateLeg", &Engine::UpdateLeg),
                        InstanceMethod("setPaused", &Engine::SetPaused),
                        InstanceMethod("stats", &Engine::Stats),
                        InstanceMethod("closeSession", &Engine::CloseSession),
                        InstanceMethod("sessionCount", &Engine::SessionCount),
                        InstanceMethod("shutdown", &Engine::Shutdown),
                        InstanceMethod("testHoldRound", &Engine::TestHoldRound),
                        InstanceMethod("testHoldState", &Engine::TestHoldState),
                        InstanceMethod("testReleaseRound", &Engine::TestReleaseRound)});
  }

  // new Engine({ firstSessionId }?): the option lets tests start the id
  // counter near the old 30-bit wrap point.
  explicit Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {
    Napi::Env env = info.Env();
    uint64_t first = 1;
    if (info[0].IsObject()) {
      Napi::Value v = info[0].As<Napi::Object>().Get("firstSessionId");
      if (env.IsExceptionPending()) return;
      if (!v.IsUndefined() && !readId(v, &first)) {
        throwCode(env, "EINVAL", "relay: firstSessionId must be an integer 1..2^53-1");
        return;
      }
    }
    relay_.reset(new mr::Relay(first));
    if (!relay_->initError().empty()) {
      // Out of descriptors (EMFILE/ENFILE), memory or threads: no engine
      // rather than one whose thread can never be stopped.
      const std::string code = relay_->initError();
      relay_.reset();
      throwCode(env, code, "relay: cannot start the media relay engine: " + code);
      return;
    }
    // The relay thread must be joined before the environment goes away,
    // even when JavaScript never calls shutdown().
    napi_add_env_cleanup_hook(env, &Engine::Cleanup, this);
    hookEnv_ = env;
  }
  ~Engine() override {
    stop();
  }

 private:
  static void Cleanup(void* arg) {
    auto* self = static_cast<Engine*>(arg);
    self->hookEnv_ = nullptr;
    if (self->relay_) self->relay_->shutdown();
  }
  void stop() {
    if (hookEnv_) {
      napi_remove_env_cleanup_hook(hookEnv_, &Engine::Cleanup, this);
      hookEnv_ = nullptr;
    }
    if (relay_) relay_->shutdown();
  }

  Napi::Value CreateSession(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    LegSettings a, b;
    if (!readLeg(env, info[0], "A", &a) || !readLeg(env, info[1], "B", &b)) return env.Undefined();
    uint64_t id = 0;
    mr::SessionPorts ports{};
    std::string err = relay_->createSession(a, b, &id, &ports);
    if (!err.empty()) return throwCode(env, err, "relay: cannot create session: " + err);
    Napi::Object r = Napi::Object::New(env);
    r.Set("id", double(id));
    r.Set("aRtp", ports.rtp[0]);
    r.Set("aRtcp", ports.rtcp[0]);
    r.Set("bRtp", ports.rtp[1]);
    r.Set("bRtcp", ports.rtcp[1]);
    return r;
  }

  Napi::Value UpdateLeg(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t id = 0;
    if (!readId(info[0], &id) || !info[1].IsNumber()) return throwCode(env, "EINVAL", "updateLeg(id, leg, settings)");
    int leg = info[1].As<Napi::Number>().DoubleValue() == 1 ? 1 : 0;
    LegSettings s;
    if (!readLeg(env, info[2], leg ? "B" : "A", &s)) return env.Undefined();
    std::string err;
    if (!relay_->updateLeg(id, leg, s, &err))
      return throwCode(env, "EINVAL", "relay: updateLeg: " + err);
    return env.Undefined();
  }

  Napi::Value SetPaused(const Napi::CallbackInfo& info) {
    uint64_t id = 0;
    if (!readId(info[0], &id)) return Napi::Boolean::New(info.Env(), false);
    return Napi::Boolean::New(info.Env(), relay_->setPaused(id, info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value()));
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t id = 0;
    LegStats st[2];
    if (!readId(info[0], &id) || !relay_->stats(id, st)) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("A", legStatsToJs(env, st[0]));
    o.Set("B", legStatsToJs(env, st[1]));
    return o;
  }

  Napi::Value CloseSession(const Napi::CallbackInfo& info) {
    uint64_t id = 0;
    return Napi::Boolean::New(info.Env(), readId(info[0], &id) && relay_->closeSession(id));
  }

  Napi::Value SessionCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(relay_->sessionCount()));
  }

  // Test hooks, see Relay::testArmHold.
  Napi::Value TestHoldRound(const Napi::CallbackInfo& info) {
    double ms = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 1000;
    relay_->testArmHold(ms >= 1 && ms <= 10000 ? int(ms) : 1000);
    return info.Env().Undefined();
  }
  Napi::Value TestHoldState(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), relay_->testHoldState());
  }
  Napi::Value TestReleaseRound(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), relay_->testReleaseRound());
  }

  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    stop();
    return info.Env().Undefined();
  }

  std::unique_ptr<mr::Relay> relay_;
  napi_env hookEnv_ = nullptr;
};

// --- test hooks -----------------------------------------------------------

Napi::Value SrtpKdf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer() || !info[1].IsBuffer() || !info[2].IsNumber() || !info[3].IsNumber())
    return throwCode(env, "EINVAL", "srtpKdf(masterKey16, masterSalt14, label, length)");
  auto k = info[0].As<Napi::Buffer<uint8_t>>();
  auto s = info[1].As<Napi::Buffer<uint8_t>>();
  int len = info[3].As<Napi::Number>().Int32Value();
  if (k.Length() != 16 || s.Length() != 14 || len < 0 || len > 64)
    return throwCode(env, "EINVAL", "srtpKdf: bad sizes");
  auto out = Napi::Buffer<uint8_t>::New(env, size_t(len));
  if (!mr::srtpKdf(k.Data(), s.Data(), uint8_t(info[2].As<Napi::Number>().Int32Value()), out.Data(), size_t(len)))
    return throwCode(env, "ECRYPTO", "srtpKdf failed");
  return out;
}

Napi::Value AesCmKeystream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer() || !info[1].IsBuffer() || !info[2].IsNumber())
    return throwCode(env, "EINVAL", "aesCmKeystream(key16, iv16, length)");
  auto k = info[0].As<Napi::Buffer<uint8_t>>();
  auto iv = info[1].As<Napi::Buffer<uint8_t>>();
  int len = info[2].As<Napi::Number>().Int32Value();
  if (k.Length() != 16 || iv.Length() != 16 || len < 0 || len > 1 << 20)
    return throwCode(env, "EINVAL", "aesCmKeystream: bad sizes");
  auto out = Napi::Buffer<uint8_t>::New(env, size_t(len));
  std::memset(out.Data(), 0, size_t(len));
  mr::AesCm cm;
  if (!cm.setKey(k.Data()) || !cm.apply(iv.Data(), out.Data(), out.Data(), size_t(len)))
    return throwCode(env, "ECRYPTO", "aes-cm failed");
  return out;
}

// srtpTransform(keySalt30, tagLen, op, packets[]): runs packets through one
// fresh context; a string element reports a failure ('auth', 'replay', ...).
Napi::Value SrtpTransform(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer() || !info[1].IsNumber() || !info[2].IsString() || !info[3].IsArray())
    return throwCode(env, "EINVAL", "srtpTransform(keySalt, tagLen, op, packets)");
  auto ks = info[0].As<Napi::Buffer<uint8_t>>();
  if (ks.Length() != 30) return throwCode(env, "EINVAL", "keySalt must be 30 bytes");
  std::string op = info[2].As<Napi::String>().Utf8Value();
  mr::SrtpContext ctx;
  if (!ctx.init(ks.Data(), info[1].As<Napi::Number>().Int32Value())) return throwCode(env, "ECRYPTO", "init");
  Napi::Array in = info[3].As<Napi::Array>();
  Napi::Array out = Napi::Array::New(env, in.Length());
  uint8_t buf[2048];
  for (uint32_t i = 0; i < in.Length(); i++) {
    Napi::Value v = in.Get(i);
    if (env.IsExceptionPending()) return env.Undefined();
    if (!v.IsBuffer()) return throwCode(env, "EINVAL", "packets must be buffers");
    auto b = v.As<Napi::Buffer<uint8_t>>();
    if (b.Length() > sizeof buf - 64) return throwCode(env, "EINVAL", "packet too large");
    std::memcpy(buf, b.Data(), b.Length());
    size_t len = b.Length();
    mr::SrtpStatus st;
    if (op == "protectRtp")
      st = ctx.protectRtp(buf, len, sizeof buf);
    else if (op == "unprotectRtp")
      st = ctx.unprotectRtp(buf, len);
    else if (op == "protectRtcp")
      st = ctx.protectRtcp(buf, len, sizeof buf);
    else if (op == "unprotectRtcp")
      st = ctx.unprotectRtcp(buf, len);
    else
      return throwCode(env, "EINVAL", "unknown op");
    switch (st) {
      case mr::SrtpStatus::Ok: out.Set(i, Napi::Buffer<uint8_t>::Copy(env, buf, len)); break;
      case mr::SrtpStatus::AuthFail: out.Set(i, "auth"); break;
      case mr::SrtpStatus::Replay: out.Set(i, "replay"); break;
      case mr::SrtpStatus::Malformed: out.Set(i, "malformed"); break;
      case mr::SrtpStatus::SsrcLimit: out.Set(i, "ssrc-limit"); break;
      default: out.Set(i, "crypto"); break;
    }
  }
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", Engine::Define(env));
  exports.Set("srtpKdf", Napi::Function::New(env, SrtpKdf));
  exports.Set("aesCmKeystream", Napi::Function::New(env, AesCmKeystream));
  exports.Set("srtpTransform", Napi::Function::New(env, SrtpTransform));
  sipudp::Init(env, exports);
  sipudp::InitShard(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(media_relay, Init)
