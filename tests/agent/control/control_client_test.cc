// trafficctl's side of the socket: what it says when the daemon cannot be reached (no socket,
// a stale one, permission denied, a daemon that never answers or answers garbage), one call,
// a refusal, and a stream.
#include <grp.h>
#include <sys/wait.h>

#include "agent/control/control_client.h"
#include "tests/agent/control/control_test_util.h"

namespace ta::agent::control {
namespace {

using testing::FakeHandler;
using testing::MustListen;
using testing::SampleRequest;
using testing::ServerThread;
using testing::TempDir;

CallError ConnectError(const std::string& path,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto client = ControlClient::Connect(path, timeout);
  if (auto* error = std::get_if<CallError>(&client)) return *error;
  ADD_FAILURE() << "connected to " << path;
  return {};
}

// A bound, listening socket nobody accepts on (or closes, for a stale file).
int ListenWithoutAccepting(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(listen(fd, 4), 0);
  return fd;
}

TEST(ControlClientTest, NoSocketMeansTheDaemonIsNotRunning) {
  TempDir dir;
  const std::string path = dir / "control.sock";
  const CallError error = ConnectError(path);
  EXPECT_EQ(error.failure, CallFailure::kUnreachable);
  EXPECT_EQ(error.message, "traffic-analyzer is not running (no control socket at " + path +
                               "; start it with systemctl start traffic-analyzer, or pass "
                               "--socket)");
}

TEST(ControlClientTest, AStaleSocketMeansTheDaemonIsNotRunning) {
  TempDir dir;
  const std::string path = dir / "control.sock";
  close(ListenWithoutAccepting(path));  // the file stays, nobody listens
  const CallError error = ConnectError(path);
  EXPECT_EQ(error.failure, CallFailure::kUnreachable);
  EXPECT_EQ(error.message, "traffic-analyzer is not running (no control socket at " + path +
                               "; start it with systemctl start traffic-analyzer, or pass "
                               "--socket)");
}

// Root is never denied, so the client runs as nobody in a child process.
TEST(ControlClientTest, PermissionDeniedSaysWhoMayConnect) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged user";
  TempDir dir;
  ControlServerOptions options;
  options.path = dir / "control.sock";
  options.mode = 0000;
  auto server = MustListen(options);
  ASSERT_NE(server, nullptr);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    std::string message = "setuid failed";
    if (setgroups(0, nullptr) == 0 && setgid(65534) == 0 && setuid(65534) == 0) {
      auto client = ControlClient::Connect(options.path);
      auto* error = std::get_if<CallError>(&client);
      message = error ? error->message : "connected";
    }
    [[maybe_unused]] ssize_t n = write(fds[1], message.data(), message.size());
    _exit(0);
  }
  close(fds[1]);
  std::string message;
  char chunk[512];
  for (ssize_t n; (n = read(fds[0], chunk, sizeof(chunk))) > 0;) {
    message.append(chunk, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(message, "permission denied on " + options.path +
                         ": run as root or as a member of the socket's group");
}

TEST(ControlClientTest, ADaemonThatNeverAnswersTimesOutNamingTheTimeout) {
  TempDir dir;
  const std::string path = dir / "control.sock";
  const int listener = ListenWithoutAccepting(path);  // the kernel queues the connection
  auto client = ControlClient::Connect(path, std::chrono::milliseconds(50));
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<ControlClient>>(client));
  auto reply = std::get<std::unique_ptr<ControlClient>>(client)->Call("status", Json::object());
  ASSERT_TRUE(std::holds_alternative<CallError>(reply));
  EXPECT_EQ(std::get<CallError>(reply).failure, CallFailure::kUnreachable);
  EXPECT_EQ(std::get<CallError>(reply).message,
            "no answer from the daemon within 50 ms (is its event loop stuck? see journalctl "
            "-u traffic-analyzer)");
  close(listener);
}

TEST(ControlClientTest, GarbageFromTheSocketIsAVersionQuestion) {
  TempDir dir;
  const std::string path = dir / "control.sock";
  const int listener = ListenWithoutAccepting(path);
  std::thread peer([&] {
    const int fd = accept(listener, nullptr, nullptr);
    const std::string hello = "HTTP/1.1 400 Bad Request\r\n";
    [[maybe_unused]] ssize_t n = send(fd, hello.data(), hello.size(), MSG_NOSIGNAL);
    char buffer[256];
    while (recv(fd, buffer, sizeof(buffer), 0) > 0) {
    }
    close(fd);
  });
  {
    auto client = ControlClient::Connect(path);
    ASSERT_TRUE(std::holds_alternative<std::unique_ptr<ControlClient>>(client));
    auto reply = std::get<std::unique_ptr<ControlClient>>(client)->Call("status", {});
    ASSERT_TRUE(std::holds_alternative<CallError>(reply));
    EXPECT_EQ(std::get<CallError>(reply).message,
              "the daemon's answer is not understood (not JSON): are trafficctl and "
              "traffic-analyzer the same version?");
  }
  peer.join();
  close(listener);
}

TEST(ControlClientTest, CallsAndRefusals) {
  TempDir dir;
  FakeHandler handler;
  handler.SetResult("status", Json{{"version", "0.6.0"}});
  handler.SetError("rules.del", "no rule 999");
  ControlServerOptions options;
  options.path = dir / "control.sock";
  ServerThread server(MustListen(options), handler);
  auto connected = ControlClient::Connect(options.path);
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<ControlClient>>(connected));
  auto& client = std::get<std::unique_ptr<ControlClient>>(connected);

  auto status = client->Call("status", Json::object());
  ASSERT_TRUE(std::holds_alternative<Json>(status));
  EXPECT_EQ(std::get<Json>(status), (Json{{"version", "0.6.0"}}));
  // The same connection carries the next call.
  auto refused = client->Call("rules.del", Json{{"id", 999}});
  ASSERT_TRUE(std::holds_alternative<CallError>(refused));
  EXPECT_EQ(std::get<CallError>(refused).failure, CallFailure::kRefused);
  EXPECT_EQ(std::get<CallError>(refused).message, "no rule 999");
  const auto calls = handler.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].second, (Json{{"id", 999}}));
}

TEST(ControlClientTest, StreamDeliversEventsUntilTheCallbackStops) {
  TempDir dir;
  FakeHandler handler;
  ControlServerOptions options;
  options.path = dir / "control.sock";
  ServerThread server(MustListen(options), handler);
  std::vector<ObservedRequest> events(3, SampleRequest());
  events[1].status = 500;
  events[2].status = 502;
  server.PublishOnceObserved(events);

  auto connected = ControlClient::Connect(options.path);
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<ControlClient>>(connected));
  std::vector<Json> seen;
  auto error = std::get<std::unique_ptr<ControlClient>>(connected)->Stream(
      "observe", Json{{"status", "5xx"}}, [&](const Json& message) {
        seen.push_back(message);
        return seen.size() < 2;
      });
  EXPECT_FALSE(error) << error->message;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], (Json{{"event", ToJson(events[1])}}));
  EXPECT_EQ(seen[1], (Json{{"event", ToJson(events[2])}}));
}

TEST(ControlClientTest, AStreamTheDaemonRefusesReturnsItsError) {
  TempDir dir;
  FakeHandler handler;
  ControlServerOptions options;
  options.path = dir / "control.sock";
  ServerThread server(MustListen(options), handler);
  auto connected = ControlClient::Connect(options.path);
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<ControlClient>>(connected));
  auto error = std::get<std::unique_ptr<ControlClient>>(connected)->Stream(
      "observe", Json{{"port", 0}}, [](const Json&) { return true; });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->failure, CallFailure::kRefused);
  EXPECT_EQ(error->message, "observe filter 'port' must be an integer from 1 to 65535, got 0");
}

}  // namespace
}  // namespace ta::agent::control
