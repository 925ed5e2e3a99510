#include "srtp.h"

#include <cstring>

namespace mr {

namespace {

inline uint32_t rd32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
inline void wr32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}
// Tags are compared without early exit so timing does not reveal how many
// bytes of a forged tag were right.
inline bool tagEqual(const uint8_t* a, const uint8_t* b, size_t n) {
  uint8_t d = 0;
  for (size_t i = 0; i < n; i++) d |= uint8_t(a[i] ^ b[i]);
  return d == 0;
}

constexpr int kSrtcpTagLen = 10;  // RFC 4568 6.2: SRTCP keeps 80 bits for both suites

}  // namespace

void HmacSha1::setKey(const uint8_t* key, size_t len) {
  uint8_t block[64];
  uint8_t hashed[20];
  if (len > 64) {
    SHA1(key, len, hashed);
    key = hashed;
    len = 20;
  }
  std::memset(block, 0, sizeof block);
  std::memcpy(block, key, len);
  for (auto& b : block) b ^= 0x36;
  SHA1_Init(&inner);
  SHA1_Update(&inner, block, 64);
  for (auto& b : block) b ^= 0x36 ^ 0x5c;
  SHA1_Init(&outer);
  SHA1_Update(&outer, block, 64);
  OPENSSL_cleanse(block, sizeof block);
}

void HmacSha1::mac(const uint8_t* d1, size_t l1, const uint8_t* d2, size_t l2, uint8_t out[20]) const {
  SHA_CTX c = inner;
  SHA1_Update(&c, d1, l1);
  if (l2) SHA1_Update(&c, d2, l2);
  uint8_t ih[20];
  SHA1_Final(ih, &c);
  c = outer;
  SHA1_Update(&c, ih, 20);
  SHA1_Final(out, &c);
}

AesCm::~AesCm() {
  if (ctx_) EVP_CIPHER_CTX_free(ctx_);
}

bool AesCm::setKey(const uint8_t key[16]) {
  if (!ctx_) ctx_ = EVP_CIPHER_CTX_new();
  if (!ctx_) return false;
  return EVP_EncryptInit_ex(ctx_, EVP_aes_128_ctr(), nullptr, key, nullptr) == 1;
}

bool AesCm::apply(const uint8_t iv[16], const uint8_t* in, uint8_t* out, size_t len) {
  if (!ctx_) return false;
  if (EVP_EncryptInit_ex(ctx_, nullptr, nullptr, nullptr, iv) != 1) return false;
  int outl = 0;
  if (len == 0) return true;
  return EVP_EncryptUpdate(ctx_, out, &outl, in, int(len)) == 1 && size_t(outl) == len;
}

bool srtpKdf(const uint8_t masterKey[16], const uint8_t masterSalt[14], uint8_t label, uint8_t* out,
             size_t len) {
  // x = (label || r) XOR master_salt with r = 0; IV = x * 2^16.
  uint8_t iv[16] = {0};
  std::memcpy(iv, masterSalt, 14);
  iv[7] ^= label;
  AesCm cm;
  if (!cm.setKey(masterKey)) return false;
  uint8_t zeros[64] = {0};
  if (len > sizeof zeros) return false;
  return cm.apply(iv, zeros, out, len);
}

bool ReplayWindow::seen(uint64_t index) const {
  if (!started || index > top) return false;
  uint64_t delta = top - index;
  if (delta >= 64) return true;  // older than the window: treated as replay
  return (bits >> delta) & 1;
}

void ReplayWindow::accept(uint64_t index) {
  if (!started) {
    started = true;
    top = index;
    bits = 1;
    return;
  }
  if (index > top) {
    uint64_t shift = index - top;
    bits = shift >= 64 ? 0 : bits << shift;
    bits |= 1;
    top = index;
  } else {
    uint64_t delta = top - index;
    if (delta < 64) bits |= uint64_t(1) << delta;
  }
}

bool SrtpContext::init(const uint8_t keySalt[30], int rtpTagLen, std::shared_ptr<SrtpStreamTable> table) {
  std::memcpy(keySalt_, keySalt, 30);
  tagLen_ = rtpTagLen == 4 ? 4 : 10;
  const uint8_t* mk = keySalt;
  const uint8_t* ms = keySalt + 16;
  uint8_t ke[16], ka[20];
  bool ok = srtpKdf(mk, ms, 0, ke, 16) && srtpKdf(mk, ms, 1, ka, 20) && srtpKdf(mk, ms, 2, rtpSalt_, 14) &&
            rtpCipher_.setKey(ke);
  rtpAuth_.setKey(ka, 20);
  ok = ok && srtpKdf(mk, ms, 3, ke, 16) && srtpKdf(mk, ms, 4, ka, 20) && srtpKdf(mk, ms, 5, rtcpSalt_, 14) &&
       rtcpCipher_.setKey(ke);
  rtcpAuth_.setKey(ka, 20);
  OPENSSL_cleanse(ke, sizeof ke);
  OPENSSL_cleanse(ka, sizeof ka);
  table_ = table ? std::move(table) : std::make_shared<SrtpStreamTable>();
  return ok;
}

bool SrtpContext::sameKeys(const uint8_t keySalt[30], int rtpTagLen) const {
  return std::memcmp(keySalt_, keySalt, 30) == 0 && tagLen_ == (rtpTagLen == 4 ? 4 : 10);
}

SrtpStream* SrtpContext::find(uint32_t ssrc) const {
  for (auto& s : table_->streams)
    if (s.ssrc == ssrc) return &s;
  return nullptr;
}

SrtpStream* SrtpContext::stream(uint32_t ssrc) {
  if (SrtpStream* s = find(ssrc)) return s;
  auto& v = table_->streams;
  if (v.size() >= kMaxStreams) return nullptr;
  v.emplace_back();
  v.back().ssrc = ssrc;
  return &v.back();
}

// RFC 3711 3.3.1 / appendix A.
uint64_t SrtpContext::estimateIndex(const SrtpStream& s, uint16_t seq, uint32_t& v) {
  if (!s.seqStarted) {
    v = 0;
    return seq;
  }
  v = s.roc;
  if (s.sl < 32768) {
    if (int32_t(seq) - int32_t(s.sl) > 32768 && s.roc > 0) v = s.roc - 1;
  } else {
    if (int32_t(s.sl) - 32768 > int32_t(seq)) v = s.roc + 1;
  }
  return (uint64_t(v) << 16) | seq;
}

void SrtpContext::updateIndex(SrtpStream& s, uint16_t seq, uint32_t v) {
  if (!s.seqStarted) {
    s.seqStarted = true;
    s.roc = v;
    s.sl = seq;
    return;
  }
  if (v == s.roc + 1) {
    s.roc = v;
    s.sl = seq;
  } else if (v == s.roc && seq > s.sl) {
    s.sl = seq;
  }
}

void SrtpContext::makeIv(const uint8_t salt[14], uint32_t ssrc, uint64_t index, uint8_t iv[16]) const {
  std::memcpy(iv, salt, 14);
  iv[14] = iv[15] = 0;
  iv[4] ^= uint8_t(ssrc >> 24);
  iv[5] ^= uint8_t(ssrc >> 16);
  iv[6] ^= uint8_t(ssrc >> 8);
  iv[7] ^= uint8_t(ssrc);
  for (int i = 0; i < 6; i++) iv[13 - i] ^= uint8_t(index >> (8 * i));
}

size_t rtpHeaderLength(const uint8_t* pkt, size_t len) {
  if (len < 12 || (pkt[0] >> 6) != 2) return 0;
  size_t h = 12 + 4 * size_t(pkt[0] & 0x0f);
  if (pkt[0] & 0x10) {
    if (len < h + 4) return 0;
    h += 4 + 4 * ((size_t(pkt[h + 2]) << 8) | pkt[h + 3]);
  }
  return h <= len ? h : 0;
}

SrtpStatus SrtpContext::protectRtp(uint8_t* pkt, size_t& len, size_t cap) {
  size_t h = rtpHeaderLength(pkt, len);
  if (!h || len + size_t(tagLen_) > cap) return SrtpStatus::Malformed;
  uint16_t seq = uint16_t((pkt[2] << 8) | pkt[3]);
  uint32_t ssrc = rd32(pkt + 8);
  SrtpStream* s = stream(ssrc);
  if (!s) return SrtpStatus::SsrcLimit;
  uint32_t v;
  uint64_t index = estimateIndex(*s, seq, v);
  // RFC 3711 9.2: an index is encrypted at most once under a key. A repeated
  // or stale sequence number from the plain side (duplicate, sender restart,
  // injected packet) is dropped; so is a ROC that would wrap past 2^32.
  if (s->rtpWindow.seen(index) || (s->seqStarted && s->roc == 0xffffffffu && v == 0)) return SrtpStatus::Replay;
  updateIndex(*s, seq, v);
  s->rtpWindow.accept(index);
  uint8_t iv[16];
  makeIv(rtpSalt_, ssrc, index, iv);
  if (!rtpCipher_.apply(iv, pkt + h, pkt + h, len - h)) return SrtpStatus::CryptoError;
  uint8_t roc[4], tag[20];
  wr32(roc, v);
  rtpAuth_.mac(pkt, len, roc, 4, tag);
  std::memcpy(pkt + len, tag, size_t(tagLen_));
  len += size_t(tagLen_);
  return SrtpStatus::Ok;
}

SrtpStatus SrtpContext::unprotectRtp(uint8_t* pkt, size_t& len) {
  if (len < 12 + size_t(tagLen_)) return SrtpStatus::Malformed;
  size_t body = len - size_t(tagLen_);
  size_t h = rtpHeaderLength(pkt, body);
  if (!h) return SrtpStatus::Malformed;
  uint16_t seq = uint16_t((pkt[2] << 8) | pkt[3]);
  uint32_t ssrc = rd32(pkt + 8);
  // State is taken (and a slot recycled) only once the packet authenticates:
  // forged packets with made-up SSRCs must not evict a real stream's ROC and
  // replay window (which would reopen the door to replays).
  SrtpStream* known = find(ssrc);
  const SrtpStream fresh{};
  uint32_t v;
  uint64_t index = estimateIndex(known ? *known : fresh, seq, v);
  if (known && known->rtpWindow.seen(index)) return SrtpStatus::Replay;
  uint8_t roc[4], tag[20];
  wr32(roc, v);
  rtpAuth_.mac(pkt, body, roc, 4, tag);
  if (!tagEqual(tag, pkt + body, size_t(tagLen_))) return SrtpStatus::AuthFail;
  SrtpStream* s = known ? known : stream(ssrc);
  if (!s) return SrtpStatus::SsrcLimit;
  uint8_t iv[16];
  makeIv(rtpSalt_, ssrc, index, iv);
  if (!rtpCipher_.apply(iv, pkt + h, pkt + h, body - h)) return SrtpStatus::CryptoError;
  updateIndex(*s, seq, v);
  s->rtpWindow.accept(index);
  len = body;
  return SrtpStatus::Ok;
}

SrtpStatus SrtpContext::protectRtcp(uint8_t* pkt, size_t& len, size_t cap) {
  if (len < 8 || (pkt[0] >> 6) != 2 || len + kMaxOverhead > cap) return SrtpStatus::Malformed;
  uint32_t ssrc = rd32(pkt + 4);
  SrtpStream* s = stream(ssrc);
  if (!s) return SrtpStatus::SsrcLimit;
  // The 31-bit SRTCP index never wraps under one key (RFC 3711 9.2): once
  // spent, the SSRC's RTCP is dropped until new keys arrive.
  if (s->rtcpSendIndex > 0x7fffffffu) return SrtpStatus::Replay;
  uint32_t index = s->rtcpSendIndex++;
  uint8_t iv[16];
  makeIv(rtcpSalt_, ssrc, index, iv);
  if (!rtcpCipher_.apply(iv, pkt + 8, pkt + 8, len - 8)) return SrtpStatus::CryptoError;
  wr32(pkt + len, 0x80000000u | index);
  len += 4;
  uint8_t tag[20];
  rtcpAuth_.mac(pkt, len, nullptr, 0, tag);
  std::memcpy(pkt + len, tag, kSrtcpTagLen);
  len += kSrtcpTagLen;
  return SrtpStatus::Ok;
}

SrtpStatus SrtpContext::unprotectRtcp(uint8_t* pkt, size_t& len) {
  if (len < 8 + 4 + kSrtcpTagLen || (pkt[0] >> 6) != 2) return SrtpStatus::Malformed;
  size_t tagPos = len - kSrtcpTagLen;
  uint32_t eIndex = rd32(pkt + tagPos - 4);
  uint32_t index = eIndex & 0x7fffffffu;
  uint32_t ssrc = rd32(pkt + 4);
  SrtpStream* known = find(ssrc);  // see unprotectRtp: no state for unauthenticated packets
  if (known && known->rtcpWindow.seen(index)) return SrtpStatus::Replay;
  uint8_t tag[20];
  rtcpAuth_.mac(pkt, tagPos, nullptr, 0, tag);
  if (!tagEqual(tag, pkt + tagPos, kSrtcpTagLen)) return SrtpStatus::AuthFail;
  SrtpStream* s = known ? known : stream(ssrc);
  if (!s) return SrtpStatus::SsrcLimit;
  size_t body = tagPos - 4;
  if (eIndex & 0x80000000u) {
    uint8_t iv[16];
    makeIv(rtcpSalt_, ssrc, index, iv);
    if (!rtcpCipher_.apply(iv, pkt + 8, pkt + 8, body - 8)) return SrtpStatus::CryptoError;
  }
  s->rtcpWindow.accept(index);
  len = body;
  return SrtpStatus::Ok;
}

}  // namespace mr
