// N-API surface of the media relay: one Engine class (a relay thread and its
// sockets) plus small SRTP hooks used by the unit tests to compare this code
// with the JavaScript implementation byte for byte.
#include <napi.h>

#include <cstring>

#include "relay.h"
#include "srtp.h"

namespace {

using mr::LegSettings;
using mr::LegStats;

bool readLeg(const Napi::Env& env, const Napi::Value& v, LegSettings* s) {
  if (!v.IsObject()) {
    Napi::TypeError::New(env, "leg settings must be an object").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  auto str = [&](const char* k, std::string* out) {
    Napi::Value x = o.Get(k);
    if (!x.IsString()) return false;
    *out = x.As<Napi::String>().Utf8Value();
    return true;
  };
  auto num = [&](const char* k, int def) {
    Napi::Value x = o.Get(k);
    return x.IsNumber() ? x.As<Napi::Number>().Int32Value() : def;
  };
  auto flag = [&](const char* k) {
    Napi::Value x = o.Get(k);
    return x.IsBoolean() && x.As<Napi::Boolean>().Value();
  };
  auto key = [&](const char* k, uint8_t* out) {
    Napi::Value x = o.Get(k);
    if (!x.IsBuffer()) return false;
    auto b = x.As<Napi::Buffer<uint8_t>>();
    if (b.Length() != 30) return false;
    std::memcpy(out, b.Data(), 30);
    return true;
  };
  if (!str("localAddress", &s->localAddress)) {
    Napi::TypeError::New(env, "localAddress must be a string").ThrowAsJavaScriptException();
    return false;
  }
  s->localRtpPort = num("localRtpPort", 0);
  s->rtcpMux = flag("rtcpMux");
  s->hasRemote = str("remoteAddress", &s->remoteAddress);
  s->remoteRtpPort = num("remoteRtpPort", 0);
  s->remoteRtcpPort = num("remoteRtcpPort", 0);
  s->signalledOnly = flag("signalledOnly");
  s->telephoneEventPt = num("telephoneEventPt", -1);
  s->clockRate = uint32_t(num("clockRate", 8000));
  s->srtp = o.Get("srtpInKey").IsBuffer();
  if (s->srtp) {
    if (!key("srtpInKey", s->srtpInKey) || !key("srtpOutKey", s->srtpOutKey)) {
      Napi::TypeError::New(env, "SRTP keys must be 30-byte buffers").ThrowAsJavaScriptException();
      return false;
    }
    s->srtpInTag = num("srtpInTag", 10);
    s->srtpOutTag = num("srtpOutTag", 10);
  }
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
  o.Set("remoteJitterMs", st.hasRemoteReport ? Napi::Value(Napi::Number::New(env, st.remoteJitterMs)) : env.Null());
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
                        InstanceMethod("shutdown", &Engine::Shutdown)});
  }

  explicit Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info), relay_(new mr::Relay()) {
    // The relay thread must be joined before the environment goes away,
    // even when JavaScript never calls shutdown().
    napi_add_env_cleanup_hook(info.Env(), &Engine::Cleanup, this);
    hookEnv_ = info.Env();
    if (!relay_->ok()) throwCode(info.Env(), "EIO", "relay: epoll setup failed");
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
    if (!readLeg(env, info[0], &a) || !readLeg(env, info[1], &b)) return env.Undefined();
    uint32_t id = 0;
    mr::SessionPorts ports{};
    std::string err = relay_->createSession(a, b, &id, &ports);
    if (!err.empty()) return throwCode(env, err, "relay: cannot create session: " + err);
    Napi::Object r = Napi::Object::New(env);
    r.Set("id", id);
    r.Set("aRtp", ports.rtp[0]);
    r.Set("aRtcp", ports.rtcp[0]);
    r.Set("bRtp", ports.rtp[1]);
    r.Set("bRtcp", ports.rtcp[1]);
    return r;
  }

  Napi::Value UpdateLeg(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsNumber()) return throwCode(env, "EINVAL", "updateLeg(id, leg, settings)");
    LegSettings s;
    if (!readLeg(env, info[2], &s)) return env.Undefined();
    std::string err;
    int leg = info[1].As<Napi::Number>().Int32Value() ? 1 : 0;
    if (!relay_->updateLeg(info[0].As<Napi::Number>().Uint32Value(), leg, s, &err))
      return throwCode(env, "EINVAL", "relay: updateLeg: " + err);
    return env.Undefined();
  }

  Napi::Value SetPaused(const Napi::CallbackInfo& info) {
    if (!info[0].IsNumber()) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), relay_->setPaused(info[0].As<Napi::Number>().Uint32Value(),
                                                            info[1].ToBoolean().Value()));
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber()) return env.Null();
    LegStats st[2];
    if (!relay_->stats(info[0].As<Napi::Number>().Uint32Value(), st)) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("A", legStatsToJs(env, st[0]));
    o.Set("B", legStatsToJs(env, st[1]));
    return o;
  }

  Napi::Value CloseSession(const Napi::CallbackInfo& info) {
    if (!info[0].IsNumber()) return Napi::Boolean::New(info.Env(), false);
    return Napi::Boolean::New(info.Env(), relay_->closeSession(info[0].As<Napi::Number>().Uint32Value()));
  }

  Napi::Value SessionCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(relay_->sessionCount()));
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
  return exports;
}

}  // namespace

NODE_API_MODULE(media_relay, Init)
