// Helper process for tests/bpf/ssl_uprobes_test.cc: a TLS client and server in one process on
// 127.0.0.1, driven over stdin/stdout so the test can attach probes and watch ports before any
// plaintext moves. Built twice: against the shared libssl (tls_peer) and with OpenSSL linked
// in statically (tls_peer_static), which the probes must report as not covered.
//
//   tls_peer [LIB]             LIB: a library to dlopen() first
//   stdout "port P"            listening on 127.0.0.1:P
//   stdin  "go"                connect, handshake, exchange kRequest and kResponse
//                              (EOF instead: exit 0)
//   stdout "done C P"          C: the client's port
//   stdin  EOF                 exit 0
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "tests/bpf/tls_loopback.h"

int main(int argc, char** argv) {
  // tls_peer LIB: map LIB as well (a fake libssl the loader should find), then as usual.
  if (argc > 1 && dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) == nullptr) {
    std::cerr << "tls_peer: " << dlerror() << std::endl;
    return 3;
  }
  using namespace ta::testing;
  static constexpr char kRequest[] = "GET /peer HTTP/1.1\r\nHost: peer\r\n\r\n";
  static constexpr char kResponse[] = "HTTP/1.1 204 No Content\r\n\r\n";
  try {
    TlsContexts ctx;
    Listener listener;
    std::cout << "port " << listener.port << std::endl;
    std::string line;
    if (!std::getline(std::cin, line)) return 0;  // not needed after all
    if (line != "go") return 2;
    TlsTcpPair pair(ctx, listener);
    char buf[256];
    Check(SSL_write(pair.client.get(), kRequest, sizeof(kRequest) - 1) ==
              static_cast<int>(sizeof(kRequest) - 1),
          "SSL_write");
    Check(SSL_read(pair.server.get(), buf, sizeof(buf)) == static_cast<int>(sizeof(kRequest) - 1),
          "SSL_read");
    Check(SSL_write(pair.server.get(), kResponse, sizeof(kResponse) - 1) ==
              static_cast<int>(sizeof(kResponse) - 1),
          "SSL_write");
    Check(SSL_read(pair.client.get(), buf, sizeof(buf)) == static_cast<int>(sizeof(kResponse) - 1),
          "SSL_read");
    std::cout << "done " << SockName(pair.client_fd, false).port << " " << listener.port
              << std::endl;
    while (std::getline(std::cin, line)) {
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "tls_peer: " << e.what() << std::endl;
    return 1;
  }
}
