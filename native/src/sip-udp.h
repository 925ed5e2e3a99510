// SIP over UDP in batches (issue 15, "Batched I/O"): a UDP socket polled
// from the main loop (uv_poll) and drained with recvmmsg, each batch handed
// to JavaScript in one callback; outgoing messages queued by JavaScript
// during a tick and written with sendmmsg in one call. The media relay's
// thread and sockets are untouched by this file.
#pragma once

#include <napi.h>

namespace sipudp {

// Adds `SipUdpSocket` to the addon's exports.
void Init(Napi::Env env, Napi::Object exports);

}  // namespace sipudp
