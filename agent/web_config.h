// The Prometheus "web config file" (https://prometheus.io/docs/prometheus/latest/configuration/
// https/), as node_exporter and `prometheus --web.config.file` read it, for the /metrics
// endpoint (metrics.web_config_file): TLS for the listener and HTTP basic auth users. A subset:
//
//   tls_server_config:
//     cert_file: server.crt            # PEM; relative paths are relative to this file's dir
//     key_file: server.key             # PEM; not readable by everyone
//     client_auth_type: NoClientCert   # or RequireAndVerifyClientCert (needs client_ca_file)
//     client_ca_file: clients-ca.crt
//     min_version: TLS12               # or TLS13
//   basic_auth_users:
//     prometheus: $2y$10$...           # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//
// Parsing is strict, like agent/config.cc: an unknown or unsupported key, a wrong type, a
// referenced file that is missing or unreadable, a private key readable by everyone, or a hash
// that is not bcrypt is an error naming the file, line, key and fix. Whatever the rest of the
// Prometheus format offers that is not listed above (cipher_suites, max_version, client SANs,
// http_server_config) is refused rather than ignored, so an operator never believes a setting
// is in force when it is not.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "agent/result.h"

namespace ta::agent {

enum class ClientAuthType {
  kNoClientCert,                // any client may complete the handshake
  kRequireAndVerifyClientCert,  // a certificate signed by client_ca_file, or no handshake
};

enum class TlsMinVersion { kTls12, kTls13 };

struct WebTlsConfig {
  // Absolute paths (relative ones in the file resolve against the file's directory, as
  // Prometheus does). Checked readable at parse time; their contents are checked when the
  // server builds its TLS context (agent/metrics_server.cc).
  std::string cert_file;
  std::string key_file;
  ClientAuthType client_auth = ClientAuthType::kNoClientCert;
  std::string client_ca_file;  // set exactly when client_auth is kRequireAndVerifyClientCert
  TlsMinVersion min_version = TlsMinVersion::kTls12;
};

struct WebConfig {
  std::string path;                 // the file it was read from, for messages
  std::optional<WebTlsConfig> tls;  // absent: plain HTTP
  // User name -> bcrypt hash. Empty: no authentication.
  std::map<std::string, std::string, std::less<>> basic_auth_users;
};

// Reads the file at `path` (refused when any local user could change it, as the main config
// file is) and parses it. Errors start with "PATH:LINE:COLUMN: " when they concern a line.
Result<WebConfig> LoadWebConfig(const std::string& path);

// Parses `yaml_text` as if read from `path`: messages name `path`, and relative file names
// resolve against its directory. The files it names must exist and be readable.
Result<WebConfig> ParseWebConfig(std::string_view yaml_text, const std::string& path);

// "$2a$", "$2b$" or "$2y$", a two-digit cost 04..31, "$", then 53 characters of bcrypt's
// base64 alphabet (22 of salt, 31 of hash): the modular crypt format of OpenBSD's bcrypt(3).
bool IsBcryptHash(std::string_view hash);

// Whether `password` hashes to `bcrypt_hash` under crypt_r(3) (libxcrypt), compared in constant
// time. False for a password containing NUL (crypt cannot take it) or a hash crypt refuses.
// bcrypt reads at most the first 72 bytes of a password; that is the algorithm's limit.
bool PasswordMatches(std::string_view bcrypt_hash, std::string_view password);

}  // namespace ta::agent
