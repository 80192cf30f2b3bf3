// The log sinks: JSON lines and journald's native protocol, with the structured fields.
#include "agent/logging.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include <gtest/gtest.h>

namespace ta::agent {
namespace {

spdlog::details::log_msg Msg(spdlog::level::level_enum level, std::string_view text) {
  spdlog::details::log_msg msg("traffic-analyzer", level, text);
  // 2026-11-25T04:50:00.123Z
  msg.time = spdlog::log_clock::time_point(std::chrono::milliseconds(1795582200123LL));
  return msg;
}

TEST(JsonLinesSinkTest, OneObjectWithTypedFields) {
  const std::vector<LogField> fields = {{"event", std::string("ring_buffer_full")},
                                        {"dropped", uint64_t{12}},
                                        {"delta", int64_t{-3}},
                                        {"ratio", 0.25}};
  EXPECT_EQ(JsonLinesSink::Format(Msg(spdlog::level::warn, "ring buffer full: 12 events"), fields),
            R"({"ts":"2026-11-25T04:50:00.123Z","level":"warn","msg":"ring buffer full: 12 )"
            R"(events","event":"ring_buffer_full","dropped":12,"delta":-3,"ratio":0.25})");
}

TEST(JsonLinesSinkTest, EscapesAndRepairsAndNeverOverwritesTheCore) {
  const std::vector<LogField> fields = {{"msg", std::string("spoofed")},
                                        {"route", std::string("/a\"b\n\xff")}};
  const std::string line =
      JsonLinesSink::Format(Msg(spdlog::level::err, "bad \"quote\"\tand\nnewline"), fields);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["msg"], "bad \"quote\"\tand\nnewline");
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["route"], "/a\"b\n\xEF\xBF\xBD");
}

TEST(JournalSinkTest, NativeProtocolFields) {
  const std::vector<LogField> fields = {{"event", std::string("map_update_failed")},
                                        {"map", std::string("ta_conns")},
                                        {"failures", uint64_t{7}}};
  EXPECT_EQ(JournalSink::Encode(Msg(spdlog::level::warn, "map update failed: ta_conns, 7 times"),
                                fields, "traffic-analyzer"),
            "MESSAGE=map update failed: ta_conns, 7 times\n"
            "PRIORITY=4\n"
            "SYSLOG_IDENTIFIER=traffic-analyzer\n"
            "TA_EVENT=map_update_failed\n"
            "TA_MAP=ta_conns\n"
            "TA_FAILURES=7\n");
}

TEST(JournalSinkTest, MultiLineValuesUseTheLengthPrefixedForm) {
  const std::string encoded =
      JournalSink::Encode(Msg(spdlog::level::critical, "two\nlines"), {{"odd-key.x", 1.5}}, "ta");
  const std::string expected_message =
      std::string("MESSAGE\n") + std::string("\x09\0\0\0\0\0\0\0", 8) + "two\nlines\n";
  EXPECT_EQ(encoded, expected_message + "PRIORITY=2\nSYSLOG_IDENTIFIER=ta\nTA_ODD_KEY_X=1.5\n");
}

// The sink sends one datagram per line to the socket, with the thread's fields.
TEST(JournalSinkTest, SendsToTheSocketWithScopedFields) {
  char dir[] = "/tmp/ta-journal-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/socket";
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);

  auto sink = std::make_shared<JournalSink>(path, "traffic-analyzer");
  spdlog::logger logger("t", sink);
  {
    LogFields scope{{"interface", std::string("eth0")}};
    logger.info("attached tc on {}", "eth0");
  }
  logger.info("no fields");
  char buf[4096];
  ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)),
            "MESSAGE=attached tc on eth0\nPRIORITY=6\nSYSLOG_IDENTIFIER=traffic-analyzer\n"
            "TA_INTERFACE=eth0\n");
  n = ::recv(fd, buf, sizeof(buf), 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)),
            "MESSAGE=no fields\nPRIORITY=6\nSYSLOG_IDENTIFIER=traffic-analyzer\n");
  EXPECT_EQ(sink->fallbacks(), 0u);

  // journald gone: the line goes to stderr instead, counted.
  ::close(fd);
  ::unlink(path.c_str());
  ::rmdir(dir);
  ::testing::internal::CaptureStderr();
  logger.warn("ring buffer full: 3 events dropped");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(" warning ring buffer full: 3 events dropped\n"), std::string::npos) << err;
  EXPECT_EQ(sink->fallbacks(), 1u);
}

TEST(LogEventTest, FieldsLiveOnlyForTheLine) {
  EXPECT_TRUE(CurrentLogFields().empty());
  {
    LogFields outer{{"a", std::string("1")}};
    {
      LogFields inner{{"b", std::string("2")}};
      ASSERT_EQ(CurrentLogFields().size(), 2u);
      EXPECT_EQ(CurrentLogFields()[1].key, "b");
    }
    ASSERT_EQ(CurrentLogFields().size(), 1u);
  }
  EXPECT_TRUE(CurrentLogFields().empty());
}

TEST(LogEventTest, StderrIsJournalFollowsJournalStream) {
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(StderrIsJournal());
  struct stat st {};
  ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
  ::setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)).c_str(),
           1);
  EXPECT_TRUE(StderrIsJournal());
  // A child whose stderr was redirected elsewhere keeps the variable but is not the journal.
  ::setenv("JOURNAL_STREAM",
           (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1)).c_str(), 1);
  EXPECT_FALSE(StderrIsJournal());
  ::unsetenv("JOURNAL_STREAM");
}

}  // namespace
}  // namespace ta::agent
