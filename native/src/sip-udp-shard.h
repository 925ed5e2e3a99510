// SIP over UDP on several worker threads (issue 15, "Use every core").
//
// The socket that owns a SIP Interface's port (sip-udp.cc, on the main
// thread) reads every datagram and gives it to the shard that owns its
// call: shard = FNV-1a(Call-ID) mod N, except REGISTER requests and the
// responses to REGISTER (CSeq method), which belong to shard 0, the main
// thread, where the registrar lives. Every Call-ID the SBC makes itself is
// chosen so that it hashes to the shard that made it (src/sip/
// call-id-shard.ts), so a response or an in-dialog request always reaches the
// thread that holds its transaction or dialog, without shared state.
//
// Datagrams for shard k wait in a queue (bounded) and wake the worker's
// event loop with uv_async_send; the worker's `SipUdpShard` takes the whole
// queue in one go and hands it to JavaScript in batches, in the same form as
// the owning socket does. Workers send with sendmmsg on a duplicate of the
// owning socket's descriptor: the same local address and port.
#pragma once

#include <napi.h>
#include <sys/socket.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace sipudp {

// The shard (0..n-1) that owns a SIP message's transaction or dialog.
int shardOf(const uint8_t* p, size_t len, int n);

struct QueuedDatagram {
  uint32_t off;
  uint32_t len;
  sockaddr_storage from;
};

struct ShardQueue {
  std::mutex mu;
  std::vector<uint8_t> bytes;
  std::vector<QueuedDatagram> items;
  // The worker's wake-up; null until the worker attached (datagrams wait) and after it left.
  uv_async_t* wake = nullptr;
  uint64_t dropped = 0;
};

// What the owning socket shares with its shards.
struct Share {
  int fd = -1;  // the owner's descriptor: shards dup() it when they attach
  int family = AF_INET;
  int port = 0;
  std::vector<std::unique_ptr<ShardQueue>> queues;  // index = shard; [0] unused (the owner delivers itself)
};

// Registers a share; returns its id (> 0).
int publishShare(std::shared_ptr<Share> share);
void withdrawShare(int id);
std::shared_ptr<Share> findShare(int id);

// Appends datagrams to a shard's queue and wakes it. Returns how many were dropped (queue full).
size_t enqueue(ShardQueue& q, const uint8_t* const* data, const size_t* lens, const sockaddr_storage* const* from, int n);

// Adds `SipUdpShard` to the addon's exports.
void InitShard(Napi::Env env, Napi::Object exports);

}  // namespace sipudp
