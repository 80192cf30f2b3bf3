/* A stand-in for an old or broken libssl, for tests/bpf/ssl_uprobes_test.cc: built as
 * libssl.so.1.1.0 with SSL_read, SSL_write and SSL_free only (OpenSSL 1.1.0 had no _ex calls),
 * and with FAKE_LIBSSL_NO_WRITE as a libssl.so.0.9.8 that lacks SSL_write as well. Never
 * called; tls_peer only maps it (dlopen) so the loader finds and hooks it. */
int SSL_read(void *ssl, void *buf, int num) { return ssl && buf ? num : -1; }
#ifndef FAKE_LIBSSL_NO_WRITE
int SSL_write(void *ssl, const void *buf, int num) { return ssl && buf ? num : -1; }
#endif
void SSL_free(void *ssl) { (void)ssl; }
