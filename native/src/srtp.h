// SRTP/SRTCP (RFC 3711) for the suites of RFC 4568 we offer:
// AES_CM_128_HMAC_SHA1_80 and AES_CM_128_HMAC_SHA1_32. Built on the libcrypto
// that Node itself carries, so the addon links no OpenSSL of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace mr {

// SsrcLimit: a new SSRC while the context already holds kMaxStreams.
// Replay on protect: that (SSRC, index) was already encrypted (or is older
// than the window), so encrypting it again would reuse keystream.
enum class SrtpStatus { Ok, AuthFail, Replay, Malformed, CryptoError, SsrcLimit };

// HMAC-SHA1 with the keyed inner/outer states computed once: per packet only
// the two SHA_CTX structs are copied (no heap work, unlike EVP_MAC/HMAC_CTX
// in OpenSSL 3, whose context copies allocate).
struct HmacSha1 {
  SHA_CTX inner;
  SHA_CTX outer;
  void setKey(const uint8_t* key, size_t len);
  void mac(const uint8_t* d1, size_t l1, const uint8_t* d2, size_t l2, uint8_t out[20]) const;
};

// AES-128 in counter mode (RFC 3711 4.1.1) through EVP aes-128-ctr; the key
// schedule is set once, each packet only loads a new IV.
class AesCm {
 public:
  AesCm() = default;
  ~AesCm();
  AesCm(const AesCm&) = delete;
  AesCm& operator=(const AesCm&) = delete;
  bool setKey(const uint8_t key[16]);
  bool apply(const uint8_t iv[16], const uint8_t* in, uint8_t* out, size_t len);

 private:
  EVP_CIPHER_CTX* ctx_ = nullptr;
};

// RFC 3711 4.3.1 with key_derivation_rate 0 (the only rate SDES uses in practice).
bool srtpKdf(const uint8_t masterKey[16], const uint8_t masterSalt[14], uint8_t label, uint8_t* out,
             size_t len);

// 64-entry sliding window (RFC 3711 3.3.2).
struct ReplayWindow {
  uint64_t top = 0;
  uint64_t bits = 0;
  bool started = false;
  bool seen(uint64_t index) const;
  void accept(uint64_t index);
};

struct SrtpStream {
  uint32_t ssrc = 0;
  bool seqStarted = false;
  uint32_t roc = 0;
  uint16_t sl = 0;
  // Inbound: indices accepted (RFC 3711 3.3.2). Outbound: indices already
  // encrypted, so a repeated or stale index is refused (RFC 3711 9.2).
  ReplayWindow rtpWindow;
  ReplayWindow rtcpWindow;
  uint32_t rtcpSendIndex = 0;
};

// Per-SSRC state of one direction. Entries are never evicted: forgetting an
// outbound SSRC would restart it at ROC 0 / SRTCP index 0 and encrypt the
// same (SSRC, index) twice under one key (a two-time pad, RFC 3711 9.2).
// A context that is full drops packets of further SSRCs instead.
struct SrtpStreamTable {
  std::vector<SrtpStream> streams;
};

class SrtpContext {
 public:
  // SSRCs per direction and key; a call has one or two, a few more with
  // SSRC changes on re-INVITE. Bounded so a peer spraying SSRCs cannot grow memory.
  static constexpr size_t kMaxStreams = 32;
  static constexpr size_t kMaxOverhead = 4 + 10;  // SRTCP index + 80-bit tag

  // keySalt: 16-byte master key + 14-byte master salt. rtpTagLen 10 or 4.
  // `table`: per-SSRC state to continue (outbound contexts of one key share
  // it, see Relay); null = fresh state.
  bool init(const uint8_t keySalt[30], int rtpTagLen, std::shared_ptr<SrtpStreamTable> table = nullptr);
  bool sameKeys(const uint8_t keySalt[30], int rtpTagLen) const;

  // All in place; `cap` is the size of the buffer behind `pkt`.
  SrtpStatus protectRtp(uint8_t* pkt, size_t& len, size_t cap);
  SrtpStatus unprotectRtp(uint8_t* pkt, size_t& len);
  SrtpStatus protectRtcp(uint8_t* pkt, size_t& len, size_t cap);
  SrtpStatus unprotectRtcp(uint8_t* pkt, size_t& len);

 private:
  // Existing state of an SSRC, or null; never allocates.
  SrtpStream* find(uint32_t ssrc) const;
  // Existing state, or a new entry; null when the table is full.
  SrtpStream* stream(uint32_t ssrc);
  static uint64_t estimateIndex(const SrtpStream& s, uint16_t seq, uint32_t& v);
  static void updateIndex(SrtpStream& s, uint16_t seq, uint32_t v);
  void makeIv(const uint8_t salt[14], uint32_t ssrc, uint64_t index, uint8_t iv[16]) const;

  uint8_t keySalt_[30] = {0};
  int tagLen_ = 10;
  AesCm rtpCipher_;
  AesCm rtcpCipher_;
  uint8_t rtpSalt_[14] = {0};
  uint8_t rtcpSalt_[14] = {0};
  HmacSha1 rtpAuth_;
  HmacSha1 rtcpAuth_;
  std::shared_ptr<SrtpStreamTable> table_;
};

// Length of the RTP header including CSRCs and extension; 0 when malformed.
size_t rtpHeaderLength(const uint8_t* pkt, size_t len);

}  // namespace mr
