// Two tiny shared objects that let Debian 12's civetweb (1.15, under prometheus-cpp) use the
// system's OpenSSL 3 for the /metrics TLS listener (agent/metrics_server.cc loads them).
//
// civetweb loads OpenSSL at run time: dlopen("libssl.so") and dlopen("libcrypto.so") (civetweb.c
// SSL_LIB, CRYPTO_LIB), then dlsym() for each function it uses. Two things break on a stock
// Debian 12 host:
//  - the unversioned names exist only when the libssl-dev package is installed;
//  - Debian built civetweb against the OpenSSL 1.1 API, so it asks for SSL_get_peer_certificate,
//    which OpenSSL 3 no longer exports (it became a macro for SSL_get1_peer_certificate), and
//    civetweb refuses to start TLS ("load_tls_dll: libssl.so: cannot find
//    SSL_get_peer_certificate").
// Each object here carries the SONAME civetweb asks for and depends on the real library. Once
// the daemon has loaded them, glibc's dlopen() returns an already loaded object whose SONAME
// matches the requested name, and dlsym() on it searches the object and then its dependencies:
// civetweb gets OpenSSL 3's functions, plus the one below.
#if defined(TA_SHIM_LIBSSL)
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509* SSL_get_peer_certificate(const SSL* ssl);

// OpenSSL 1.1's SSL_get_peer_certificate returned a new reference, as SSL_get1_ does; civetweb
// frees it after use.
X509* SSL_get_peer_certificate(const SSL* ssl) { return SSL_get1_peer_certificate(ssl); }
#else
// libcrypto.so: only the SONAME and the dependency on libcrypto.so.3 matter.
int ta_civetweb_crypto_shim;
#endif
