#include "agent/web_config.h"

#include <crypt.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "agent/yaml_text.h"

namespace ta::agent {
namespace {

// Thrown inside the parser only and turned into an Error at ParseWebConfig's boundary, as in
// agent/config.cc: exceptions are acceptable at config load (STYLE.md).
struct WebConfigError {
  std::string message;
};

constexpr std::string_view kHashHowTo =
    "make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n' (apache2-utils), or python3 -c "
    "'import bcrypt; print(bcrypt.hashpw(b\"PASSWORD\", bcrypt.gensalt()).decode())'";

std::string Join(std::initializer_list<std::string_view> items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}


using yaml_text::Describe;
using yaml_text::IsAbsent;

std::string ModeText(mode_t mode) { return fmt::format("{:04o}", mode & 07777); }

// The daemon's group by name (for a chgrp the operator can paste), or its number.
std::string GroupName() {
  const gid_t gid = ::getegid();
  std::array<char, 1024> buf{};
  group entry{};
  group* found = nullptr;
  if (::getgrgid_r(gid, &entry, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->gr_name;
  }
  return std::to_string(gid);
}

class WebConfigParser {
 public:
  explicit WebConfigParser(const std::string& path) : path_(path) {
    const size_t slash = path.find_last_of('/');
    dir_ = slash == std::string::npos ? "." : path.substr(0, std::max<size_t>(slash, 1));
  }

  WebConfig Parse(const YAML::Node& root) const {
    WebConfig config;
    config.path = path_;
    // An empty file configures nothing, as in Prometheus: plain HTTP without authentication.
    if (IsAbsent(root)) return config;
    if (!root.IsMap()) {
      Fail(root,
           "expected a map with tls_server_config and/or basic_auth_users at the top "
           "level, got " +
               Describe(root));
    }
    CheckKeys(root, "", {"basic_auth_users", "tls_server_config"});
    if (const YAML::Node tls = root["tls_server_config"]; tls.IsDefined()) {
      config.tls = ParseTls(tls, KeyOf(root, "tls_server_config"));
    }
    if (const YAML::Node users = root["basic_auth_users"]; users.IsDefined()) {
      ParseUsers(users, KeyOf(root, "basic_auth_users"), config);
    }
    return config;
  }

  [[noreturn]] void Fail(const YAML::Node& at, const std::string& message) const {
    throw WebConfigError{Locate(at.IsDefined() ? at.Mark() : YAML::Mark::null_mark()) + message};
  }

  std::string Locate(const YAML::Mark& mark) const { return yaml_text::Locate(path_, mark); }

 private:
  // Every key of `map` must be one of `known`, and appear once.
  void CheckKeys(const YAML::Node& map, std::string_view section,
                 std::initializer_list<std::string_view> known) const {
    std::map<std::string, YAML::Mark> seen;
    for (const auto& entry : map) {
      const YAML::Node key = entry.first;
      const std::string where =
          section.empty() ? " at the top level" : " under '" + std::string(section) + "'";
      if (!key.IsScalar()) Fail(key, "keys must be plain names, got " + Describe(key) + where);
      const std::string full =
          section.empty() ? key.Scalar() : std::string(section) + "." + key.Scalar();
      if (std::find(known.begin(), known.end(), key.Scalar()) == known.end()) {
        Fail(key,
             "unknown or unsupported key '" + full + "' (supported keys: " + Join(known) + ")");
      }
      auto [first, inserted] = seen.emplace(key.Scalar(), key.Mark());
      if (!inserted) {
        Fail(key, "duplicate key '" + full + "' (first at line " +
                      std::to_string(first->second.line + 1) + ")");
      }
    }
  }

  std::string String(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) Fail(node, "'" + key + "' must be a string, got " + Describe(node));
    return node.Scalar();
  }

  // The key node of `name` in `map`: where an empty value is reported (yaml-cpp places an empty
  // value's mark on the following line).
  static YAML::Node KeyOf(const YAML::Node& map, std::string_view name) {
    for (const auto& entry : map) {
      if (entry.first.IsScalar() && entry.first.Scalar() == name) return entry.first;
    }
    return YAML::Node();
  }

  WebTlsConfig ParseTls(const YAML::Node& node, const YAML::Node& key_node) const {
    constexpr std::string_view kSection = "tls_server_config";
    if (IsAbsent(node)) {
      Fail(key_node,
           "'tls_server_config' is empty; give cert_file and key_file, or remove the "
           "section to serve plain HTTP");
    }
    if (!node.IsMap()) Fail(node, "'tls_server_config' must be a map, got " + Describe(node));
    CheckKeys(node, kSection,
              {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version"});
    WebTlsConfig tls;
    const YAML::Node cert = node["cert_file"];
    const YAML::Node key = node["key_file"];
    if (IsAbsent(cert) || IsAbsent(key)) {
      Fail(node,
           "'tls_server_config' needs both cert_file and key_file (PEM files: the server's "
           "certificate chain and its private key)");
    }
    tls.cert_file = File(cert, "tls_server_config.cert_file", /*private_key=*/false);
    tls.key_file = File(key, "tls_server_config.key_file", /*private_key=*/true);

    const YAML::Node auth = node["client_auth_type"];
    if (!IsAbsent(auth)) {
      const std::string value = String(auth, "tls_server_config.client_auth_type");
      if (value == "NoClientCert") {
        tls.client_auth = ClientAuthType::kNoClientCert;
      } else if (value == "RequireAndVerifyClientCert") {
        tls.client_auth = ClientAuthType::kRequireAndVerifyClientCert;
      } else {
        // RequestClientCert, RequireAnyClientCert and VerifyClientCertIfGiven let a client
        // without a verified certificate in, which only makes sense with checks on the
        // certificate in the handler; traffic-analyzer has none.
        Fail(auth, "'tls_server_config.client_auth_type' is '" + value +
                       "'; traffic-analyzer supports NoClientCert and RequireAndVerifyClientCert");
      }
    }
    const YAML::Node ca = node["client_ca_file"];
    if (tls.client_auth == ClientAuthType::kRequireAndVerifyClientCert) {
      if (IsAbsent(ca)) {
        Fail(auth,
             "'tls_server_config.client_auth_type' is RequireAndVerifyClientCert, which "
             "needs client_ca_file: the CA certificates (PEM) that sign the clients' "
             "certificates");
      }
      tls.client_ca_file = File(ca, "tls_server_config.client_ca_file", /*private_key=*/false);
    } else if (!IsAbsent(ca)) {
      Fail(ca,
           "'tls_server_config.client_ca_file' is set but client_auth_type is "
           "NoClientCert, so no client certificate would be checked; set client_auth_type: "
           "RequireAndVerifyClientCert, or remove client_ca_file");
    }

    if (const YAML::Node version = node["min_version"]; !IsAbsent(version)) {
      const std::string value = String(version, "tls_server_config.min_version");
      if (value == "TLS12") {
        tls.min_version = TlsMinVersion::kTls12;
      } else if (value == "TLS13") {
        tls.min_version = TlsMinVersion::kTls13;
      } else if (value == "TLS10" || value == "TLS11") {
        Fail(version, "'tls_server_config.min_version' is " + value +
                          "; TLS 1.0 and 1.1 are deprecated (RFC 8996) and never offered: use "
                          "TLS12 or TLS13");
      } else {
        Fail(version,
             "'tls_server_config.min_version' is '" + value + "'; expected TLS12 or TLS13");
      }
    }
    return tls;
  }

  // A file the server will read: resolved against the web config file's directory, opened now
  // so a missing or unreadable one is reported at start-up with its key, not as an OpenSSL
  // error later. A private key must not be readable by every local user.
  std::string File(const YAML::Node& node, const std::string& key, bool private_key) const {
    const std::string given = String(node, key);
    if (given.empty()) Fail(node, "'" + key + "' is empty; give the path of a PEM file");
    const bool relative = given.front() != '/';
    const std::string path = relative ? dir_ + "/" + given : given;
    const std::string note = relative ? " (relative paths are relative to " + dir_ + ")" : "";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
      const int err = errno;
      if (err == EACCES) {
        Fail(node, "'" + key + "': " + path + " is not readable by the daemon's user (uid " +
                       std::to_string(::geteuid()) +
                       "); make it readable by that user, e.g. "
                       "chgrp " +
                       GroupName() + " " + path + " && chmod 0640 " + path);
      }
      Fail(node, "'" + key + "': cannot open " + path + ": " + std::strerror(err) + note);
    }
    struct stat st {};
    const int rc = ::fstat(fd, &st);
    ::close(fd);
    if (rc != 0 || !S_ISREG(st.st_mode)) {
      Fail(node, "'" + key + "': " + path + " is not a regular file" + note);
    }
    if (private_key && (st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
      Fail(node, "'" + key + "': " + path + " is readable by everyone (mode " +
                     ModeText(st.st_mode) +
                     "), so any local user could take the endpoint's private key; refusing it. "
                     "Fix: chmod 0640 " +
                     path);
    }
    return path;
  }

  void ParseUsers(const YAML::Node& node, const YAML::Node& key_node, WebConfig& config) const {
    if (IsAbsent(node)) {
      Fail(key_node,
           "'basic_auth_users' is empty; list users as 'name: bcrypt hash', or remove "
           "the section to serve without authentication");
    }
    if (!node.IsMap()) {
      Fail(node,
           "'basic_auth_users' must be a map of user name to bcrypt hash, got " + Describe(node));
    }
    std::map<std::string, YAML::Mark> seen;
    for (const auto& entry : node) {
      const YAML::Node name = entry.first;
      if (!name.IsScalar()) {
        Fail(name,
             "user names under 'basic_auth_users' must be plain names, got " + Describe(name));
      }
      const std::string& user = name.Scalar();
      if (user.empty()) Fail(name, "'basic_auth_users' has an empty user name");
      // RFC 7617 section 2: the user-id ends at the first colon of user-pass.
      if (user.find(':') != std::string::npos) {
        Fail(name, "user name '" + user +
                       "' under 'basic_auth_users' contains ':', which HTTP basic auth cannot "
                       "carry (RFC 7617 section 2)");
      }
      auto [first, inserted] = seen.emplace(user, name.Mark());
      if (!inserted) {
        Fail(name, "duplicate user 'basic_auth_users." + user + "' (first at line " +
                       std::to_string(first->second.line + 1) + ")");
      }
      const YAML::Node hash = entry.second;
      const std::string key = "basic_auth_users." + user;
      if (!hash.IsScalar()) {
        Fail(hash, "'" + key + "' must be a bcrypt hash, got " + Describe(hash));
      }
      // The value is not echoed: when it is not a hash it may well be a plain password.
      if (!IsBcryptHash(hash.Scalar())) {
        Fail(hash, "'" + key +
                       "' is not a bcrypt hash ($2a$, $2b$ or $2y$, a cost, then 53 characters); "
                       "the file holds hashes, never passwords: " +
                       std::string(kHashHowTo));
      }
      config.basic_auth_users.emplace(user, hash.Scalar());
    }
  }

  std::string path_;
  std::string dir_;
};

}  // namespace

bool IsBcryptHash(std::string_view hash) {
  constexpr size_t kLength = 60;  // "$2b$" + "10" + "$" + 22 salt + 31 hash characters
  if (hash.size() != kLength || hash.substr(0, 2) != "$2" || hash[3] != '$' || hash[6] != '$') {
    return false;
  }
  if (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') return false;
  if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9') return false;
  // bcrypt's cost is log2 of the rounds: 4..31.
  const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < 4 || cost > 31) return false;
  return std::all_of(hash.begin() + 7, hash.end(), [](char c) {
    return c == '.' || c == '/' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9');
  });
}

bool PasswordMatches(std::string_view bcrypt_hash, std::string_view password) {
  if (password.find('\0') != std::string_view::npos || !IsBcryptHash(bcrypt_hash)) return false;
  const std::string phrase(password);
  const std::string setting(bcrypt_hash);
  // crypt_data is about 32 KiB in libxcrypt: too big for a civetweb worker's stack.
  auto data = std::make_unique<crypt_data>();
  const char* out = ::crypt_r(phrase.c_str(), setting.c_str(), data.get());
  // On failure crypt_r returns NULL or a string starting with '*' that never equals a hash.
  if (out == nullptr || std::strlen(out) != setting.size()) return false;
  // Constant time in the content: the time taken says nothing about how much of it matched.
  unsigned char diff = 0;
  for (size_t i = 0; i < setting.size(); ++i) {
    diff = static_cast<unsigned char>(
        diff | (static_cast<unsigned char>(out[i]) ^ static_cast<unsigned char>(setting[i])));
  }
  return diff == 0;
}

Result<WebConfig> ParseWebConfig(std::string_view yaml_text, const std::string& path) {
  WebConfigParser parser(path);
  try {
    const std::vector<YAML::Node> documents = YAML::LoadAll(std::string(yaml_text));
    if (documents.size() > 1) {
      return Error{0, path +
                          ": found more than one YAML document ('---'); a web config file "
                          "holds exactly one"};
    }
    return parser.Parse(documents.empty() ? YAML::Node() : documents.front());
  } catch (const WebConfigError& e) {
    return Error{0, e.message};
  } catch (const YAML::Exception& e) {
    return Error{0, parser.Locate(e.mark) + "invalid YAML: " + e.msg};
  }
}

Result<WebConfig> LoadWebConfig(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return ErrnoError("cannot read web config file '" + path + "' (metrics.web_config_file)");
  }
  // Whoever can change this file can add a user or point it at another certificate: the same
  // rule as for the main config file (agent/config.cc CheckConfigFileSafe).
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (st.st_mode & S_IWOTH) != 0) {
    ::close(fd);
    return Error{EPERM, "web config file '" + path + "' is writable by everyone (mode " +
                            ModeText(st.st_mode) +
                            "), so any local user could add a /metrics user or swap its "
                            "certificate; refusing it. Fix: chmod o-w " +
                            path};
  }
  std::string text;
  std::array<char, 4096> buf;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoError("cannot read web config file '" + path + "' (metrics.web_config_file)",
                        err);
    }
    if (n == 0) break;
    text.append(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return ParseWebConfig(text, path);
}

}  // namespace ta::agent
