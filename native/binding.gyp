{
  "targets": [
    {
      "target_name": "media_relay",
      "sources": ["src/addon.cc", "src/relay.cc", "src/relay-io.cc", "src/net.cc", "src/srtp.cc", "src/sip-udp.cc", "src/sip-udp-send.cc", "src/sip-udp-shard.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "OPENSSL_SUPPRESS_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-flto=auto", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-flto=auto"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": []
    }
  ]
}
