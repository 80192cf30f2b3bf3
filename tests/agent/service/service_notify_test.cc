// The sd_notify client against a datagram socket the test binds, as systemd would.
#include "agent/service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

namespace ta::agent {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// A bound SOCK_DGRAM socket standing in for systemd's notification socket.
class FakeSystemd {
 public:
  explicit FakeSystemd(bool abstract = false) {
    char dir[] = "/tmp/ta-notify-XXXXXX";
    EXPECT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    socklen_t len = 0;
    if (abstract) {
      name_ = "@ta-notify-test-" + std::to_string(::getpid());
      std::memcpy(addr.sun_path + 1, name_.data() + 1, name_.size() - 1);
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    } else {
      name_ = dir_ + "/notify";
      std::memcpy(addr.sun_path, name_.data(), name_.size());
      len = sizeof(addr);
    }
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0) << std::strerror(errno);
  }
  ~FakeSystemd() {
    ::close(fd_);
    if (name_.front() == '/') ::unlink(name_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& name() const { return name_; }
  // The next datagram, or "" when none is queued.
  std::string Next() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
  }

 private:
  std::string dir_, name_;
  int fd_ = -1;
};

TEST(ServiceNotifierTest, DisabledOutsideSystemdSendsNothing) {
  ServiceNotifier n("", std::nullopt);
  EXPECT_FALSE(n.enabled());
  EXPECT_TRUE(n.Ready("up").ok());
  auto fed = n.FeedWatchdog(steady_clock::now());
  ASSERT_TRUE(fed.ok());
  EXPECT_FALSE(*fed);
}

TEST(ServiceNotifierTest, ReadyStatusStoppingAreTheDocumentedMessages) {
  FakeSystemd systemd;
  ServiceNotifier n(systemd.name(), std::nullopt);
  ASSERT_TRUE(n.Ready("watching ports 80,443\non eth0").ok());
  EXPECT_EQ(systemd.Next(),
            "READY=1\nSTATUS=watching ports 80,443 on eth0\nMAINPID=" + std::to_string(::getpid()));
  ASSERT_TRUE(n.Status("12 events/s, 0 lost in total").ok());
  EXPECT_EQ(systemd.Next(), "STATUS=12 events/s, 0 lost in total");
  ASSERT_TRUE(n.Stopping("detaching").ok());
  EXPECT_EQ(systemd.Next(), "STOPPING=1\nSTATUS=detaching");
  EXPECT_EQ(systemd.Next(), "");
}

TEST(ServiceNotifierTest, AbstractSocketNames) {
  FakeSystemd systemd(/*abstract=*/true);
  ServiceNotifier n(systemd.name(), std::nullopt);
  ASSERT_TRUE(n.Status("x").ok());
  EXPECT_EQ(systemd.Next(), "STATUS=x");
}

TEST(ServiceNotifierTest, WatchdogIsFedAtHalfTheInterval) {
  FakeSystemd systemd;
  ServiceNotifier n(systemd.name(), microseconds(10'000'000));  // WatchdogSec=10s
  const auto t0 = steady_clock::now();
  EXPECT_TRUE(n.FeedWatchdog(t0).value());  // at once after start
  EXPECT_EQ(systemd.Next(), "WATCHDOG=1");
  EXPECT_FALSE(n.FeedWatchdog(t0 + milliseconds(4999)).value());
  EXPECT_EQ(systemd.Next(), "");
  EXPECT_TRUE(n.FeedWatchdog(t0 + milliseconds(5000)).value());
  EXPECT_EQ(systemd.Next(), "WATCHDOG=1");
  EXPECT_FALSE(n.FeedWatchdog(t0 + milliseconds(9999)).value());
  EXPECT_TRUE(n.FeedWatchdog(t0 + milliseconds(10000)).value());
  EXPECT_EQ(systemd.Next(), "WATCHDOG=1");
}

TEST(ServiceNotifierTest, AGoneSocketIsAnErrorNamingIt) {
  ServiceNotifier n("/nonexistent/notify", std::nullopt);
  auto sent = n.Status("x");
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.error().ToString(),
            "cannot notify systemd on NOTIFY_SOCKET /nonexistent/notify: No such file or "
            "directory");
}

// The environment as systemd sets it, and what a wrapper might get wrong.
class NotifyEnvTest : public ::testing::Test {
 protected:
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
};

TEST_F(NotifyEnvTest, ReadsSocketAndWatchdog) {
  ::setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  auto n = ServiceNotifier::FromEnvironment();
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_TRUE(n->enabled());
  ASSERT_TRUE(n->watchdog().has_value());
  EXPECT_EQ(n->watchdog()->count(), 30'000'000);
}

TEST_F(NotifyEnvTest, AnotherProcessesWatchdogIsNotOurs) {
  ::setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  ::setenv("WATCHDOG_PID", "1", 1);
  auto n = ServiceNotifier::FromEnvironment();
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->watchdog().has_value());
}

TEST_F(NotifyEnvTest, NothingSetMeansDisabled) {
  auto n = ServiceNotifier::FromEnvironment();
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->enabled());
  EXPECT_FALSE(n->watchdog().has_value());
}

TEST_F(NotifyEnvTest, MalformedValuesNameTheVariable) {
  ::setenv("NOTIFY_SOCKET", "relative/path", 1);
  auto n = ServiceNotifier::FromEnvironment();
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().message,
            "environment variable NOTIFY_SOCKET is 'relative/path'; expected an absolute socket "
            "path or @abstract name (it is set by systemd for Type=notify units)");
  ::setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  ::setenv("WATCHDOG_USEC", "30s", 1);
  n = ServiceNotifier::FromEnvironment();
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().message,
            "environment variable WATCHDOG_USEC is '30s', not a number; it is set by systemd "
            "(WatchdogSec=): unset it when running by hand");
}

}  // namespace
}  // namespace ta::agent
