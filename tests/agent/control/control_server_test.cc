// The control socket server: requests and replies (also split at seeded random points),
// malformed and oversized input, several clients, the socket file's life cycle (stale file,
// a live daemon, mode and group), and observe subscriptions with drop and lost accounting.
#include <grp.h>
#include <sys/stat.h>

#include <random>

#include "tests/agent/control/control_test_util.h"

namespace ta::agent::control {
namespace {

using testing::ConnectUnix;
using testing::FakeHandler;
using testing::MustListen;
using testing::RawClient;
using testing::SampleRequest;
using testing::TempDir;

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.path = dir_ / "control.sock";
    server_ = MustListen(options_);
    ASSERT_NE(server_, nullptr);
  }

  TempDir dir_;
  ControlServerOptions options_;
  FakeHandler handler_;
  std::unique_ptr<ControlServer> server_;
};

TEST_F(ControlServerTest, AnswersARequestWithTheHandlersResult) {
  handler_.SetResult("status", Json{{"version", "0.6.0"}});
  RawClient client(*server_, handler_);
  client.Send("{\"cmd\": \"status\"}\n");
  EXPECT_EQ(client.ReadLine(), R"({"ok":true,"result":{"version":"0.6.0"}})");
  client.Send(R"({"cmd": "rules.del", "args": {"id": 7}})"
              "\n");
  EXPECT_EQ(client.ReadLine(), R"({"ok":true,"result":{"args":{"id":7},"cmd":"rules.del"}})");
  const auto calls = handler_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].first, "status");
  EXPECT_EQ(calls[0].second, Json::object());  // args default to {}
  EXPECT_EQ(calls[1].second, (Json{{"id", 7}}));
  EXPECT_EQ(server_->stats().requests, 2u);
  EXPECT_EQ(server_->stats().errors, 0u);
}

TEST_F(ControlServerTest, AHandlerErrorIsAnOkFalseReply) {
  handler_.SetError("rules.del", "no rule 999 (trafficctl rules list shows the ids)");
  RawClient client(*server_, handler_);
  client.Send("{\"cmd\":\"rules.del\",\"args\":{\"id\":999}}\r\n");
  EXPECT_EQ(client.ReadLine(),
            R"j({"ok":false,"error":"no rule 999 (trafficctl rules list shows the ids)"})j");
  EXPECT_EQ(server_->stats().errors, 1u);
}

TEST_F(ControlServerTest, AHandlerThatThrowsCostsOnlyItsRequest) {
  RawClient client(*server_, handler_);
  client.Send("{\"cmd\":\"boom\"}\n{\"cmd\":\"status\"}\n");
  EXPECT_EQ(client.ReadLine(), R"({"ok":false,"error":"internal error in 'boom': handler bug"})");
  EXPECT_EQ(client.ReadLine(), R"({"ok":true,"result":{"args":{},"cmd":"status"}})");
}

TEST_F(ControlServerTest, PipelinedRequestsSplitAtRandomPointsAreAnsweredInOrder) {
  const std::string bytes =
      "{\"cmd\": \"a\", \"args\": {\"x\": \"caf\xc3\xa9\"}}\n\n{\"cmd\": \"b\"}\n"
      "{\"cmd\": \"c\", \"args\": {}}\n";
  for (uint32_t seed = 1; seed <= 25; ++seed) {
    SCOPED_TRACE(seed);
    RawClient client(*server_, handler_);
    std::mt19937 rng(seed);
    size_t at = 0;
    while (at < bytes.size()) {
      const size_t n = std::uniform_int_distribution<size_t>(1, 9)(rng);
      client.Send(std::string_view(bytes).substr(at, n));
      at += n;
      server_->Poll(handler_);
    }
    EXPECT_EQ(client.ReadLine(),
              "{\"ok\":true,\"result\":{\"args\":{\"x\":\"caf\xc3\xa9\"},"
              "\"cmd\":\"a\"}}");
    EXPECT_EQ(client.ReadLine(), R"({"ok":true,"result":{"args":{},"cmd":"b"}})");
    EXPECT_EQ(client.ReadLine(), R"({"ok":true,"result":{"args":{},"cmd":"c"}})");
  }
  EXPECT_EQ(server_->stats().requests, 75u);  // the empty line is not a request
}

TEST_F(ControlServerTest, MalformedRequestsAreAnsweredAndTheConnectionStaysUsable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"status",
       "malformed request: not JSON (parse error at line 1, column 1: syntax error while "
       "parsing value - invalid literal; last read: 's'); send one JSON object per line, e.g. "
       "{\"cmd\": \"status\"}"},
      {"[\"status\"]",
       "malformed request: expected an object {\"cmd\": ..., \"args\": {...}}, got array"},
      {"{}", "malformed request: no \"cmd\" (the command's name, e.g. {\"cmd\": \"status\"})"},
      {"{\"cmd\": 5}", "malformed request: \"cmd\" must be a string, got number"},
      {"{\"cmd\": \"status\", \"args\": [1]}",
       "malformed request: \"args\" must be an object, got array"},
      {"{\"cmd\": \"status\", \"args\": null}",
       "malformed request: \"args\" must be an object, got null"},
      {"{\"cmd\": \"status\", \"id\": 1}",
       "malformed request: unknown key 'id' (known: cmd, args)"},
      {"\xff\xfe garbage",
       "malformed request: not JSON (parse error at line 1, column 1: syntax error while "
       "parsing value - invalid literal; last read: '\xef\xbf\xbd'); send one JSON object per "
       "line, "
       "e.g. {\"cmd\": \"status\"}"},
  };
  RawClient client(*server_, handler_);
  for (const auto& [request, error] : cases) {
    SCOPED_TRACE(request);
    client.Send(request + "\n");
    auto line = client.ReadLine();
    ASSERT_TRUE(line);
    EXPECT_EQ(Json::parse(*line), (Json{{"ok", false}, {"error", error}}));
  }
  client.Send("{\"cmd\": \"status\"}\n");
  EXPECT_EQ(client.ReadLine(), R"({"ok":true,"result":{"args":{},"cmd":"status"}})");
  EXPECT_EQ(server_->stats().requests, cases.size() + 1);
  EXPECT_EQ(server_->stats().errors, cases.size());
  EXPECT_EQ(handler_.calls().size(), 1u);  // nothing malformed reached the handler
}

TEST_F(ControlServerTest, AnOversizedRequestGetsAnErrorAndIsDisconnected) {
  server_.reset();
  options_.max_request_bytes = 64;
  server_ = MustListen(options_);
  RawClient client(*server_, handler_);
  client.Send("{\"cmd\": \"status\", \"args\": {\"pad\": \"" + std::string(100, 'x'));
  EXPECT_EQ(client.ReadLine(),
            R"({"ok":false,"error":"request longer than 64 bytes without a newline: closing )"
            R"j(the connection (send one JSON object per line)"})j");
  EXPECT_TRUE(client.ServerCloses());
  EXPECT_EQ(server_->stats().errors, 1u);
  EXPECT_TRUE(handler_.calls().empty());
  // A request of exactly the limit is fine.
  RawClient ok(*server_, handler_);
  std::string request = "{\"cmd\": \"status\", \"args\": {\"p\": \"\"}}";
  request.insert(request.size() - 3, 64 - request.size(), 'y');
  ASSERT_EQ(request.size(), 64u);
  ok.Send(request + "\n");
  auto line = ok.ReadLine();
  ASSERT_TRUE(line);
  EXPECT_EQ(Json::parse(*line)["ok"], true);
}

TEST_F(ControlServerTest, TwoClientsInterleaved) {
  RawClient a(*server_, handler_);
  RawClient b(*server_, handler_);
  a.Send("{\"cmd\": \"first\", ");
  b.Send("{\"cmd\": \"second\"}\n");
  EXPECT_EQ(b.ReadLine(), R"({"ok":true,"result":{"args":{},"cmd":"second"}})");
  a.Send("\"args\": {\"n\": 1}}\n");
  EXPECT_EQ(a.ReadLine(), R"({"ok":true,"result":{"args":{"n":1},"cmd":"first"}})");
  EXPECT_TRUE(b.NothingPending());
}

TEST_F(ControlServerTest, AHalfClosedClientStillGetsItsAnswerAndAnUnterminatedLastLine) {
  RawClient client(*server_, handler_);
  client.Send("{\"cmd\": \"a\"}\n{\"cmd\": \"b\"}");  // printf '...' | socat - UNIX:...
  client.ShutdownWrite();
  EXPECT_EQ(client.ReadLine(), R"({"ok":true,"result":{"args":{},"cmd":"a"}})");
  EXPECT_EQ(client.ReadLine(), R"({"ok":true,"result":{"args":{},"cmd":"b"}})");
  EXPECT_TRUE(client.ServerCloses());
}

TEST_F(ControlServerTest, ClientsBeyondTheLimitAreRefusedWithAReason) {
  server_.reset();
  options_.max_clients = 1;
  server_ = MustListen(options_);
  RawClient first(*server_, handler_);
  first.Send("{\"cmd\": \"a\"}\n");
  ASSERT_TRUE(first.ReadLine());
  RawClient second(*server_, handler_);
  EXPECT_EQ(second.ReadLine(),
            R"({"ok":false,"error":"too many control connections (1 open): close an idle )"
            R"(trafficctl (e.g. an observe or top) and retry"})");
  EXPECT_TRUE(second.ServerCloses());
  EXPECT_EQ(server_->stats().clients_refused, 1u);
  first.Send("{\"cmd\": \"b\"}\n");
  EXPECT_TRUE(first.ReadLine());
}

// ---- The socket file. ----------------------------------------------------------------------

TEST(ControlSocketFileTest, CreatesTheDirectorySetsMode0660AndUnlinksOnExit) {
  TempDir dir;
  ControlServerOptions options;
  options.path = dir / "run/traffic-analyzer/control.sock";
  {
    auto server = MustListen(options);
    ASSERT_NE(server, nullptr);
    struct stat st {};
    ASSERT_EQ(stat(options.path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0660u);
    ASSERT_EQ(stat((dir / "run/traffic-analyzer").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0750u);
    ASSERT_EQ(stat((dir / "run").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0750u);
  }
  struct stat st {};
  EXPECT_NE(stat(options.path.c_str(), &st), 0);  // unlinked
}

TEST(ControlSocketFileTest, GivesTheSocketToTheGroup) {
  if (geteuid() != 0) GTEST_SKIP() << "chown to another group needs root";
  const group* daemon_group = getgrgid(1);
  ASSERT_NE(daemon_group, nullptr) << "no group with gid 1";
  TempDir dir;
  ControlServerOptions options;
  options.path = dir / "control.sock";
  options.group = daemon_group->gr_name;
  options.mode = 0600;
  auto server = MustListen(options);
  ASSERT_NE(server, nullptr);
  struct stat st {};
  ASSERT_EQ(stat(options.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 1u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(ControlSocketFileTest, AnUnknownGroupIsAnErrorNamingIt) {
  TempDir dir;
  ControlServerOptions options;
  options.path = dir / "control.sock";
  options.group = "ta-no-such-group";
  auto server = ControlServer::Listen(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().message,
            "group 'ta-no-such-group' (control.group) does not exist: create it (groupadd "
            "ta-no-such-group) or set control.group to another group");
  struct stat st {};
  EXPECT_NE(stat(options.path.c_str(), &st), 0);  // nothing was created
}

TEST(ControlSocketFileTest, AStaleSocketIsReplaced) {
  TempDir dir;
  const std::string path = dir / "control.sock";
  {  // A daemon that died without unlinking: the file is there, nobody listens.
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(listen(fd, 1), 0);
    close(fd);
  }
  ASSERT_EQ(ConnectUnix(path), -1);
  ASSERT_EQ(errno, ECONNREFUSED);
  ControlServerOptions options;
  options.path = path;
  auto server = MustListen(options);
  ASSERT_NE(server, nullptr);
  FakeHandler handler;
  RawClient client(*server, handler);
  client.Send("{\"cmd\": \"status\"}\n");
  EXPECT_TRUE(client.ReadLine());
}

TEST(ControlSocketFileTest, ASecondDaemonIsRefusedAndTheFirstKeepsItsSocket) {
  TempDir dir;
  ControlServerOptions options;
  options.path = dir / "control.sock";
  auto first = MustListen(options);
  ASSERT_NE(first, nullptr);
  auto second = ControlServer::Listen(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message,
            "another traffic-analyzer is listening on " + options.path +
                ": stop it first (systemctl stop traffic-analyzer), or give this one another "
                "control.socket");
  FakeHandler handler;
  RawClient client(*first, handler);
  client.Send("{\"cmd\": \"status\"}\n");
  EXPECT_TRUE(client.ReadLine());
}

TEST(ControlSocketFileTest, AFileThatIsNotASocketIsLeftAlone) {
  TempDir dir;
  ControlServerOptions options;
  options.path = dir / "control.sock";
  {
    std::FILE* f = std::fopen(options.path.c_str(), "w");
    std::fclose(f);
  }
  auto server = ControlServer::Listen(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().message, options.path +
                                        " exists and is not a socket: move it away, or set "
                                        "control.socket to another path");
  struct stat st {};
  EXPECT_EQ(stat(options.path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST(ControlSocketFileTest, APathTooLongForAUnixSocketIsAnError) {
  ControlServerOptions options;
  options.path = "/tmp/" + std::string(120, 'a');
  auto server = ControlServer::Listen(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().message,
            "control socket path '" + options.path +
                "' is 125 bytes; a Unix socket path must be 1 to 107 bytes: set control.socket "
                "to a shorter path");
}

// ---- Observe. ------------------------------------------------------------------------------

TEST(ObserveFilterTest, FromJsonAcceptsTheDocumentedForms) {
  auto filter = ObserveFilter::FromJson(Json{{"route", "/users/*"},
                                             {"status", "5xx"},
                                             {"client", "198.18.0.0/15"},
                                             {"protocol", "grpc"},
                                             {"port", 8080}});
  ASSERT_TRUE(filter.ok()) << filter.error().message;
  EXPECT_EQ(filter->route, "/users/*");
  EXPECT_EQ(filter->status, "5xx");
  EXPECT_EQ(filter->client, "198.18.0.0/15");
  EXPECT_EQ(filter->protocol, "grpc");
  EXPECT_EQ(filter->port, 8080);
  auto code = ObserveFilter::FromJson(Json{{"status", 404}});
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(code->status, "404");
  for (const Json& ok : {Json::object(), Json(nullptr), Json{{"client", "2001:db8::/32"}},
                         Json{{"client", "198.18.0.2"}}, Json{{"status", "2xx"}},
                         Json{{"status", "503"}}, Json{{"port", 65535}}}) {
    EXPECT_TRUE(ObserveFilter::FromJson(ok).ok()) << ok.dump();
  }
}

TEST(ObserveFilterTest, FromJsonNamesTheBadField) {
  const std::vector<std::pair<Json, std::string>> cases = {
      {Json::array(), "observe: args must be an object of filters, got array"},
      {Json{{"verb", "GET"}},
       "unknown observe filter 'verb' (known: route, status, client, protocol, port)"},
      {Json{{"route", ""}}, "observe filter 'route' must be a non-empty string"},
      {Json{{"route", 5}}, "observe filter 'route' must be a non-empty string"},
      {Json{{"status", "6xx"}},
       "observe filter 'status' must be a class (2xx, 3xx, 4xx, 5xx) or a 3-digit code like "
       "404, got \"6xx\""},
      {Json{{"status", "40"}},
       "observe filter 'status' must be a class (2xx, 3xx, 4xx, 5xx) or a 3-digit code like "
       "404, got \"40\""},
      {Json{{"status", 4040}},
       "observe filter 'status' must be a class (2xx, 3xx, 4xx, 5xx) or a 3-digit code like "
       "404, got 4040"},
      {Json{{"client", "198.18.0.0/33"}},
       "observe filter 'client' must be an IP address or a CIDR like 198.18.0.0/15 or "
       "2001:db8::/32, got '198.18.0.0/33'"},
      {Json{{"client", "example.com"}},
       "observe filter 'client' must be an IP address or a CIDR like 198.18.0.0/15 or "
       "2001:db8::/32, got 'example.com'"},
      {Json{{"client", "198.18.0.0/"}},
       "observe filter 'client' must be an IP address or a CIDR like 198.18.0.0/15 or "
       "2001:db8::/32, got '198.18.0.0/'"},
      {Json{{"protocol", "http3"}},
       "observe filter 'protocol' must be http1, http2 or grpc, got 'http3'"},
      {Json{{"port", 0}}, "observe filter 'port' must be an integer from 1 to 65535, got 0"},
      {Json{{"port", 65536}},
       "observe filter 'port' must be an integer from 1 to 65535, got 65536"},
      {Json{{"port", "80"}},
       "observe filter 'port' must be an integer from 1 to 65535, got \"80\""},
  };
  for (const auto& [args, message] : cases) {
    auto filter = ObserveFilter::FromJson(args);
    ASSERT_FALSE(filter.ok()) << args.dump();
    EXPECT_EQ(filter.error().message, message);
  }
}

TEST(ObserveFilterTest, Matches) {
  ObservedRequest r = SampleRequest();  // GET /users/{id} 200 from 198.18.0.2:4312 to :80
  auto matches = [&](const Json& args) {
    auto filter = ObserveFilter::FromJson(args);
    EXPECT_TRUE(filter.ok()) << args.dump();
    return filter.ok() && filter->Matches(r);
  };
  EXPECT_TRUE(matches(Json::object()));
  EXPECT_TRUE(matches(Json{{"route", "/users/{id}"}}));
  EXPECT_TRUE(matches(Json{{"route", "/users/*"}}));
  EXPECT_TRUE(matches(Json{{"route", "*"}}));
  EXPECT_FALSE(matches(Json{{"route", "/users"}}));
  EXPECT_FALSE(matches(Json{{"route", "/orders/*"}}));
  EXPECT_TRUE(matches(Json{{"status", "2xx"}}));
  EXPECT_TRUE(matches(Json{{"status", "200"}}));
  EXPECT_FALSE(matches(Json{{"status", "5xx"}}));
  EXPECT_FALSE(matches(Json{{"status", "201"}}));
  EXPECT_TRUE(matches(Json{{"client", "198.18.0.2"}}));
  EXPECT_TRUE(matches(Json{{"client", "198.18.0.0/15"}}));
  EXPECT_TRUE(matches(Json{{"client", "198.19.255.255/15"}}));  // host bits ignored
  EXPECT_TRUE(matches(Json{{"client", "0.0.0.0/0"}}));
  EXPECT_FALSE(matches(Json{{"client", "198.18.0.3"}}));
  EXPECT_FALSE(matches(Json{{"client", "198.18.0.0/31"}}));
  EXPECT_TRUE(matches(Json{{"client", "198.18.0.0/30"}}));
  EXPECT_FALSE(matches(Json{{"client", "2001:db8::/32"}}));
  EXPECT_TRUE(matches(Json{{"client", "::ffff:198.18.0.0/111"}}));
  EXPECT_TRUE(matches(Json{{"protocol", "http1"}}));
  EXPECT_FALSE(matches(Json{{"protocol", "grpc"}}));
  EXPECT_TRUE(matches(Json{{"port", 80}}));
  EXPECT_FALSE(matches(Json{{"port", 8080}}));
  EXPECT_TRUE(matches(Json{{"port", 80}, {"status", "2xx"}, {"client", "198.18.0.0/24"}}));
  EXPECT_FALSE(matches(Json{{"port", 80}, {"status", "4xx"}, {"client", "198.18.0.0/24"}}));

  r.client = "[2001:db8::7]:5000";
  EXPECT_TRUE(matches(Json{{"client", "2001:db8::/32"}}));
  EXPECT_TRUE(matches(Json{{"client", "2001:db8::7"}}));
  EXPECT_FALSE(matches(Json{{"client", "2001:db9::/32"}}));
  EXPECT_FALSE(matches(Json{{"client", "198.18.0.0/15"}}));
  r.client = "[::ffff:198.18.0.9]:5000";  // a dual-stack listener's view of an IPv4 client
  EXPECT_TRUE(matches(Json{{"client", "198.18.0.0/15"}}));
  r.client = "garbage";
  EXPECT_FALSE(matches(Json{{"client", "0.0.0.0/0"}}));
}

TEST(ObserveFilterTest, ToJsonHasTheDocumentedKeys) {
  ObservedRequest r = SampleRequest();
  EXPECT_EQ(ToJson(r).dump(),
            R"({"client":"198.18.0.2:4312","latency_ms":3.125,"method":"GET","path":"/users/42",)"
            R"("port":80,"protocol":"http1","request_bytes":120,"response_bytes":2048,)"
            R"("route":"/users/{id}","server":"198.18.0.1:80","status":200,)"
            R"("ts":"2026-11-25T00:00:01.123Z"})");
  r.protocol = "grpc";
  r.grpc_status = 14;
  r.ts_unix_ns = 0;
  const Json j = ToJson(r);
  EXPECT_EQ(j["grpc_status"], 14);
  EXPECT_EQ(j["ts"], "1970-01-01T00:00:00.000Z");
  r.ts_unix_ns = -1;  // before the epoch (never from CLOCK_REALTIME): printed as the epoch
  EXPECT_EQ(ToJson(r)["ts"], "1970-01-01T00:00:00.000Z");
}

TEST_F(ControlServerTest, ObserveStreamsMatchingRequestsUntilTheClientLeaves) {
  EXPECT_FALSE(server_->HasObservers());
  RawClient client(*server_, handler_);
  client.Send(R"({"cmd": "observe", "args": {"port": 80, "status": "5xx"}})"
              "\n");
  EXPECT_EQ(client.ReadLine(), R"({"ok":true,"result":{"subscribed":true}})");
  EXPECT_TRUE(server_->HasObservers());
  EXPECT_TRUE(handler_.calls().empty());  // observe is the server's, not the handler's

  ObservedRequest ok = SampleRequest();
  ObservedRequest failed = SampleRequest();
  failed.status = 503;
  failed.path = "/users/7";
  ObservedRequest other_port = failed;
  other_port.port = 8080;
  server_->Publish(ok);
  server_->Publish(failed);
  server_->Publish(other_port);
  EXPECT_EQ(client.ReadLine(), Json({{"event", ToJson(failed)}}).dump());
  EXPECT_TRUE(client.NothingPending());

  // The subscription does not stop the connection from answering other requests.
  client.Send("{\"cmd\": \"status\"}\n");
  EXPECT_EQ(client.ReadLine(), R"({"ok":true,"result":{"args":{},"cmd":"status"}})");

  client.Close();
  for (int i = 0; i < 100 && server_->HasObservers(); ++i) server_->Poll(handler_);
  EXPECT_FALSE(server_->HasObservers());
}

TEST_F(ControlServerTest, AnInvalidFilterIsRefusedAndSubscribesNothing) {
  RawClient client(*server_, handler_);
  client.Send(R"({"cmd": "observe", "args": {"protocol": "ftp"}})"
              "\n");
  EXPECT_EQ(client.ReadLine(),
            R"({"ok":false,"error":"observe filter 'protocol' must be http1, http2 or grpc, )"
            R"(got 'ftp'"})");
  EXPECT_FALSE(server_->HasObservers());
  EXPECT_EQ(server_->stats().errors, 1u);
}

TEST_F(ControlServerTest, ASlowObserverLosesEventsAndIsToldHowMany) {
  ObservedRequest r = SampleRequest();
  const size_t line = Json({{"event", ToJson(r)}}).dump().size() + 1;
  server_.reset();
  options_.max_output_bytes = 3 * line + line / 2;  // room for three events between polls
  server_ = MustListen(options_);
  RawClient slow(*server_, handler_);
  RawClient fast(*server_, handler_);
  slow.Send("{\"cmd\": \"observe\"}\n");
  fast.Send("{\"cmd\": \"observe\", \"args\": {\"route\": \"/health\"}}\n");
  ASSERT_EQ(slow.ReadLine(), R"({"ok":true,"result":{"subscribed":true}})");
  ASSERT_EQ(fast.ReadLine(), R"({"ok":true,"result":{"subscribed":true}})");

  // Ten events between two polls: the first three fit the slow client's buffer.
  for (int i = 0; i < 10; ++i) {
    r.ts_unix_ns += 1000000;
    server_->Publish(r);
  }
  EXPECT_EQ(server_->stats().observe_dropped, 7u);
  ObservedRequest expected = SampleRequest();
  for (int i = 0; i < 3; ++i) {
    expected.ts_unix_ns += 1000000;
    EXPECT_EQ(slow.ReadLine(), Json({{"event", ToJson(expected)}}).dump());
  }
  // Drained: the count comes before the next event.
  EXPECT_EQ(slow.ReadLine(), R"({"lost":7})");
  r.ts_unix_ns += 1000000;
  server_->Publish(r);
  EXPECT_EQ(slow.ReadLine(), Json({{"event", ToJson(r)}}).dump());
  EXPECT_TRUE(slow.NothingPending());
  EXPECT_TRUE(fast.NothingPending());  // its filter matched nothing, so it lost nothing
  EXPECT_EQ(server_->stats().observe_dropped, 7u);
}

TEST_F(ControlServerTest, AnObserverDisconnectedForAnOversizedLineIsUnsubscribed) {
  server_.reset();
  options_.max_request_bytes = 64;
  server_ = MustListen(options_);
  RawClient client(*server_, handler_);
  client.Send("{\"cmd\": \"observe\"}\n");
  ASSERT_EQ(client.ReadLine(), R"({"ok":true,"result":{"subscribed":true}})");
  client.Send(std::string(100, 'x'));
  EXPECT_TRUE(client.ServerCloses());
  EXPECT_FALSE(server_->HasObservers());
}

TEST_F(ControlServerTest, PublishWithoutObserversIsANoOp) {
  RawClient client(*server_, handler_);
  client.Send("{\"cmd\": \"status\"}\n");
  ASSERT_TRUE(client.ReadLine());
  server_->Publish(SampleRequest());
  EXPECT_TRUE(client.NothingPending());
  EXPECT_EQ(server_->stats().observe_dropped, 0u);
}

}  // namespace
}  // namespace ta::agent::control
