// Exact text of every sink format: JSON lines, Alertmanager bodies, RFC 5424 messages, and the
// escaping rules they share.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "agent/alerts/alertmanager.h"
#include "agent/alerts/json_lines.h"
#include "agent/alerts/syslog.h"
#include "agent/alerts/text.h"
#include "tests/agent/sinks/test_records.h"

namespace ta::agent::alerts {
namespace {

using testing::BolaRecord;
using testing::FloodRecord;

std::string Json(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

TEST(JsonString, EscapesQuotesBackslashAndControls) {
  EXPECT_EQ(Json("a\"b\\c"), R"j("a\"b\\c")j");
  EXPECT_EQ(Json("\b\f\n\r\t"), R"j("\b\f\n\r\t")j");
  EXPECT_EQ(Json(std::string_view("\x00\x01\x1f\x7f", 4)), R"j("\u0000\u0001\u001f\u007f")j");
  EXPECT_EQ(Json("/"), R"j("/")j");  // solidus needs no escape (RFC 8259 §7)
}

TEST(JsonString, KeepsWellFormedUtf8) {
  EXPECT_EQ(Json("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  EXPECT_EQ(Json("\xEF\xBF\xBF\xF4\x8F\xBF\xBF"),
            "\"\xEF\xBF\xBF\xF4\x8F\xBF\xBF\"");  // U+FFFF, U+10FFFF
}

TEST(JsonString, ReplacesEachBadByte) {
  EXPECT_EQ(Json("a\xFF"
                 "b"),
            R"j("a\ufffdb")j");
  EXPECT_EQ(Json("\xC0\xAF"), R"j("\ufffd\ufffd")j");                      // overlong '/'
  EXPECT_EQ(Json("\xED\xA0\x80"), R"j("\ufffd\ufffd\ufffd")j");            // UTF-16 surrogate D800
  EXPECT_EQ(Json("\xF4\x90\x80\x80"), R"j("\ufffd\ufffd\ufffd\ufffd")j");  // above U+10FFFF
  EXPECT_EQ(Json("x\xE2\x82"), R"j("x\ufffd\ufffd")j");                    // truncated at the end
  EXPECT_EQ(Json("\x80"), R"j("\ufffd")j");                                // lone continuation byte
}

TEST(RepairUtf8, ReplacesWithTheReplacementCharacter) {
  EXPECT_EQ(RepairUtf8("ok\xFE"
                       "ok"),
            "ok\xEF\xBF\xBD"
            "ok");
  EXPECT_EQ(RepairUtf8("\xC3\xA9"), "\xC3\xA9");
}

TEST(JsonNumber, ShortestRoundTripAndNullForNonFinite) {
  std::string out;
  AppendJsonNumber(out, 412.0);
  out += ' ';
  AppendJsonNumber(out, 0.1);
  out += ' ';
  AppendJsonNumber(out, 1e20);
  out += ' ';
  AppendJsonNumber(out, -2.5e-7);
  out += ' ';
  AppendJsonNumber(out, std::numeric_limits<double>::quiet_NaN());
  out += ' ';
  AppendJsonNumber(out, std::numeric_limits<double>::infinity());
  EXPECT_EQ(out, "412 0.1 1e+20 -2.5e-07 null null");
  EXPECT_EQ(FormatNumber(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(Rfc3339, UtcWithMilliseconds) {
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(testing::kWindowEnd), "2025-11-24T23:20:35.123Z");
  EXPECT_EQ(FormatRfc3339Millis(951782400999999999ULL), "2000-02-29T00:00:00.999Z");  // leap day
}

TEST(JsonLine, ExactText) {
  EXPECT_EQ(
      FormatJsonLine(BolaRecord()),
      R"j({"time":"2025-11-24T23:20:35.123Z","id":42,"state":"firing","detector":"bola",)j"
      R"j("severity":"critical","port":8080,"route":"/api/users/{id}","clients":[)j"
      R"j({"address":"198.18.0.9","count":120},{"address":"2001:db8::1","count":3}],)j"
      R"j("observed":412.5,"baseline":20,"score":19.625,"threshold":3,"unit":"objects",)j"
      R"j("window_start":"2025-11-24T23:20:30.000Z","window_end":"2025-11-24T23:20:35.123Z",)j"
      R"j("started":"2025-11-24T23:20:35.123Z","explanation":"GET /api/users/{id}: )j"
      R"j(198.18.0.9 requested 412.5 objects (usual 20)"})j");
}

TEST(JsonLine, ResolvedNodeWideWithHostileText) {
  auto a = FloodRecord();
  a.state = analyzer::anomaly::AnomalyState::kResolved;
  a.route = "/a\"b\\c\n\x01\xFF/\xC3\xA9";
  a.clients.clear();
  a.score = std::numeric_limits<double>::quiet_NaN();
  a.explanation = "line1\r\nline2\t\"quoted\"";
  EXPECT_EQ(FormatJsonLine(a),
            R"j({"time":"2025-11-24T23:20:35.123Z","id":7,"state":"resolved","detector":"flood",)j"
            R"j("severity":"warning","port":0,"route":"/a\"b\\c\n\u0001\ufffd/)j"
            "\xC3\xA9"
            R"j(","clients":[],"observed":1800,"baseline":100.25,"score":null,"threshold":3,)j"
            R"j("unit":"req/s","window_start":"2025-11-24T23:20:30.000Z",)j"
            R"j("window_end":"2025-11-24T23:20:35.123Z","started":"2025-11-24T23:20:30.000Z",)j"
            R"j("explanation":"line1\r\nline2\t\"quoted\""})j");
}

constexpr uint64_t kNow = 1764026440000000000ULL;  // 2025-11-24T23:20:40Z

TEST(AlertmanagerBody, FiringSingleSubjectExact) {
  const auto alert = ToPostableAlert(BolaRecord(), "node-1", "", kNow, std::chrono::seconds(60));
  EXPECT_EQ(FormatAlertmanagerBody({alert}),
            R"j([{"labels":{"alertname":"TrafficAnalyzerAnomaly","client":"198.18.0.9",)j"
            R"j("detector":"bola","instance":"node-1","port":"8080","route":"/api/users/{id}",)j"
            R"j("severity":"critical"},"annotations":{"anomaly_id":"42","baseline":"20 objects",)j"
            R"j("observed":"412.5 objects","score":"19.625","summary":"GET /api/users/{id}: )j"
            R"j(198.18.0.9 requested 412.5 objects (usual 20)","threshold":"3"},)j"
            R"j("startsAt":"2025-11-24T23:20:35.123Z","endsAt":"2025-11-24T23:24:40.000Z"}])j");
}

TEST(AlertmanagerBody, NodeWideFloodHasNoClientNorRoute) {
  auto a = FloodRecord();
  a.state = analyzer::anomaly::AnomalyState::kResolved;
  const auto alert =
      ToPostableAlert(a, "node-1", "http://grafana.example/d/ta", kNow, std::chrono::seconds(60));
  // Resolved: endsAt is the resolve time (window_end), not now + 4 x resend.
  const std::string one = FormatAlertmanagerBody({alert});
  EXPECT_EQ(one,
            R"j([{"labels":{"alertname":"TrafficAnalyzerAnomaly","detector":"flood",)j"
            R"j("instance":"node-1","port":"0","severity":"warning"},"annotations":{)j"
            R"j("anomaly_id":"7","baseline":"100.25 req/s","observed":"1800 req/s","score":"6.5",)j"
            R"j("summary":"node: 1800 req/s (baseline 100.25 req/s)","threshold":"3"},)j"
            R"j("startsAt":"2025-11-24T23:20:30.000Z","endsAt":"2025-11-24T23:20:35.123Z",)j"
            R"j("generatorURL":"http://grafana.example/d/ta"}])j");
  const std::string inner = one.substr(1, one.size() - 2);
  EXPECT_EQ(FormatAlertmanagerBody({alert, alert}), "[" + inner + "," + inner + "]");
  EXPECT_EQ(FormatAlertmanagerBody({}), "[]");
}

TEST(Syslog, FacilityNames) {
  EXPECT_EQ(ParseSyslogFacility("local0").value(), 16);
  EXPECT_EQ(ParseSyslogFacility("local7").value(), 23);
  EXPECT_EQ(ParseSyslogFacility("daemon").value(), 3);
  auto bad = ParseSyslogFacility("local8");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("local8"), std::string::npos);
  EXPECT_NE(bad.error().message.find("local7"), std::string::npos);
}

const SyslogOrigin kOrigin{16, "node-1", 4242};

TEST(Syslog, Rfc5424ExactCriticalFiring) {
  EXPECT_EQ(FormatSyslogMessage(BolaRecord(), kOrigin),
            "<130>1 2025-11-24T23:20:35.123Z node-1 traffic-analyzer 4242 ANOMALY "
            "[anomaly@32473 id=\"42\" state=\"firing\" detector=\"bola\" severity=\"critical\" "
            "port=\"8080\" route=\"/api/users/{id}\" client=\"198.18.0.9\" observed=\"412.5\" "
            "baseline=\"20\" score=\"19.625\"] \xEF\xBB\xBF"
            "GET /api/users/{id}: 198.18.0.9 requested 412.5 objects (usual 20)");
}

TEST(Syslog, SeverityLadderAndFacility) {
  auto a = FloodRecord();
  const SyslogOrigin local7{23, "node-1", 1};
  EXPECT_EQ(FormatSyslogMessage(a, kOrigin).substr(0, 6), "<132>1");  // 16*8 + warning(4)
  EXPECT_EQ(FormatSyslogMessage(a, local7).substr(0, 6), "<188>1");   // 23*8 + 4
  a.state = analyzer::anomaly::AnomalyState::kResolved;
  EXPECT_EQ(FormatSyslogMessage(a, kOrigin).substr(0, 6), "<133>1");  // notice(5)
  a.severity = analyzer::anomaly::Severity::kCritical;
  EXPECT_EQ(FormatSyslogMessage(a, kOrigin).substr(0, 6), "<133>1");  // resolved wins
}

TEST(Syslog, ParamEscapingHostnameAndMessageRepair) {
  auto a = FloodRecord();
  a.route = "/x\"y\\z]\xFF";
  a.clients.clear();
  a.explanation = "two\nlines\x01 and \xC3";
  EXPECT_EQ(FormatSyslogMessage(a, SyslogOrigin{16, "bad host\x7F", 9}),
            "<132>1 2025-11-24T23:20:35.123Z bad_host_ traffic-analyzer 9 ANOMALY "
            "[anomaly@32473 id=\"7\" state=\"firing\" detector=\"flood\" severity=\"warning\" "
            "port=\"0\" route=\"/x\\\"y\\\\z\\]\xEF\xBF\xBD\" observed=\"1800\" "
            "baseline=\"100.25\" score=\"6.5\"] \xEF\xBB\xBFtwo lines  and \xEF\xBF\xBD");
  EXPECT_EQ(FormatSyslogMessage(a, SyslogOrigin{16, "", 9}).substr(0, 40),
            "<132>1 2025-11-24T23:20:35.123Z - traffi");
}

TEST(Syslog, TruncationKeepsUtf8Sequences) {
  EXPECT_EQ(TruncateUtf8("abc", 5), "abc");
  EXPECT_EQ(TruncateUtf8("abc", 2), "ab");
  EXPECT_EQ(TruncateUtf8("a\xE2\x82\xAC", 3), "a");  // would split the euro sign
  EXPECT_EQ(TruncateUtf8("a\xE2\x82\xAC", 4), "a\xE2\x82\xAC");
  EXPECT_EQ(TruncateUtf8("a\xC3\xA9z", 2), "a");
}

}  // namespace
}  // namespace ta::agent::alerts
