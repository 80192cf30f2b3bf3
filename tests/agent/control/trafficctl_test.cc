// trafficctl end to end: the real binary (TA_TRAFFICCTL) against a control server on a thread
// of this process, whose handler answers with the shapes of docs/control.md. Every command's
// human and --json output, the requests it sends, and its exit codes (0 ok, 1 refused, 2 usage,
// 3 anomaly firing, 4 unreachable).
#include <fcntl.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "tests/agent/control/control_test_util.h"

namespace ta::agent::control {
namespace {

using testing::FakeHandler;
using testing::MustListen;
using testing::SampleRequest;
using testing::ServerThread;
using testing::TempDir;

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs trafficctl with `args`, stdin from /dev/null, stdout and stderr captured in files.
Outcome RunTrafficctl(const TempDir& dir, const std::vector<std::string>& args) {
  const std::string out_path = dir / "stdout";
  const std::string err_path = dir / "stderr";
  std::vector<std::string> argv_storage = {TA_TRAFFICCTL};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const pid_t child = fork();
  if (child == 0) {  // only async-signal-safe calls until exec: the server thread is running
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(in);
  close(out);
  close(err);
  Outcome outcome;
  int status = 0;
  if (child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status)) {
    outcome.exit_code = WEXITSTATUS(status);
  }
  outcome.out = ReadFile(out_path);
  outcome.err = ReadFile(err_path);
  return outcome;
}

Json OperatorRule() {
  return Json::parse(R"({
    "id": 7, "kind": "drop", "source": "198.18.5.0/24", "port": 80, "rate": 0, "burst": 0,
    "admit_ratio": 1, "dry_run": false, "created": "2026-11-25T01:00:00Z",
    "expires": "2026-11-25T03:00:00Z", "origin": "operator", "anomaly_id": 0, "detector": "",
    "reason": "scraper hammering /users during the launch, ticket OPS-1234", "offence": 1,
    "counters": {"matched_packets": 1200, "matched_bytes": 96000, "dropped_packets": 1200,
                 "dropped_bytes": 96000, "would_drop_packets": 0, "would_drop_bytes": 0}})");
}

Json DetectorRule() {
  return Json::parse(R"({
    "id": 12, "kind": "rate_limit", "source": "198.18.0.2/32", "port": 0, "rate": 100,
    "burst": 200, "admit_ratio": 1, "dry_run": true, "created": "2026-11-25T01:50:00Z",
    "expires": null, "origin": "detector", "anomaly_id": 31, "detector": "flood",
    "reason": "flood on :80 /users/{id}", "offence": 2,
    "counters": {"matched_packets": 5000, "matched_bytes": 400000, "dropped_packets": 0,
                 "dropped_bytes": 0, "would_drop_packets": 4100, "would_drop_bytes": 328000}})");
}

Json FloodAnomaly(const std::string& state) {
  return Json{{"id", 31},
              {"detector", "flood"},
              {"severity", "critical"},
              {"state", state},
              {"port", 80},
              {"route", "/users/{id}"},
              {"subject", "198.18.0.2"},
              {"observed", 950.5},
              {"baseline", 120},
              {"score", 7.9},
              {"threshold", 4},
              {"unit", "req/s"},
              {"started", "2026-11-25T01:49:00Z"},
              {"explanation", "flood on :80 /users/{id}: 950.5 req/s against a baseline of 120"}};
}

Json Status() {
  return Json::parse(R"({
    "version": "0.6.0", "uptime_s": 7384.2,
    "kernel": {"release": "6.1.0-18-amd64",
               "features": {"btf": true, "ringbuf": true, "xdp_native": false}},
    "capture": {"interfaces": ["eth0", "eth1"], "ports": [80, 443]},
    "enforcement": {"enabled": true, "dry_run": false,
                    "interfaces": [{"name": "eth0", "mode": "native", "prog_id": 42,
                                    "replaced_leftover": true},
                                   {"name": "eth1", "mode": "generic", "prog_id": 43,
                                    "replaced_leftover": false}],
                    "heartbeat": {"age_ms": 120, "timeout_ms": 5000, "fail_open": true},
                    "rules": 2, "stats": {"dropped_packets": 1500, "passed_packets": 99000}},
    "tls": {"enabled": true, "hooked_libraries": 2},
    "anomaly": {"enabled": true, "learned_ratio": 0.875},
    "events": {"per_second": 1234.5, "lost_per_second": 0, "lost_total": 3}})");
}

Json Thresholds() {
  return Json::parse(R"({
    "overrides": [{"detector": "flood", "parameter": "z_threshold", "port": null,
                   "route": null, "value": 5, "expires": "2026-11-25T04:00:00Z",
                   "reason": "launch"},
                  {"detector": "latency", "parameter": "min_ms", "port": 8080,
                   "route": "/search", "value": 250.5, "expires": null, "reason": ""}],
    "parameters": [{"detector": "flood", "name": "z_threshold", "min": 1, "max": 20,
                    "help": "standard deviations above the baseline that fire"},
                   {"detector": "latency", "name": "min_ms", "min": 1, "max": 60000,
                    "help": "p99 below this never fires"}]})");
}

Json Top() {
  return Json::parse(R"({"window_s": 10, "routes": [
    {"port": 80, "route": "/health", "rps": 2, "errors_per_s": 0, "error_ratio": 0,
     "p99_ms": 0.4},
    {"port": 80, "route": "/users/{id}", "rps": 950.5, "errors_per_s": 9.5,
     "error_ratio": 0.01, "p99_ms": 31.25},
    {"port": 443, "route": "/login", "rps": 40, "errors_per_s": 20, "error_ratio": 0.5,
     "p99_ms": 120}]})");
}

class TrafficctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    handler_.SetResult("status", Status());
    handler_.SetResult("rules.list", Json{{"rules", {OperatorRule(), DetectorRule()}}});
    handler_.SetResult("rules.add", Json{{"rule", DetectorRule()}});
    handler_.SetResult("rules.del", Json{{"rule", OperatorRule()}});
    handler_.SetResult("rules.explain", Json{{"rule", DetectorRule()},
                                             {"anomaly", FloodAnomaly("resolved")},
                                             {"explanation",
                                              "anomaly #31 (flood) fired twice in a row; second "
                                              "offence, so the rule lasts 20m"}});
    handler_.SetResult("thresholds.get", Thresholds());
    handler_.SetResult("thresholds.set", Json{{"override", Thresholds()["overrides"][0]}});
    handler_.SetResult("anomalies",
                       Json{{"active", Json::array()}, {"recent", {FloodAnomaly("resolved")}}});
    handler_.SetResult("top", Top());
    ControlServerOptions options;
    options.path = dir_ / "control.sock";
    server_ = std::make_unique<ServerThread>(MustListen(options), handler_);
  }

  // trafficctl --socket <the test server> args...
  Outcome Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--socket", server_->path()});
    return RunTrafficctl(dir_, args);
  }

  // The one request the handler saw.
  std::pair<std::string, Json> OnlyCall() {
    auto calls = handler_.calls();
    EXPECT_EQ(calls.size(), 1u);
    return calls.empty() ? std::pair<std::string, Json>() : calls.back();
  }

  TempDir dir_;
  FakeHandler handler_;
  std::unique_ptr<ServerThread> server_;
};

TEST_F(TrafficctlTest, Status) {
  const Outcome human = Ctl({"status"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out,
            "traffic-analyzer 0.6.0, up 2h 3m\n"
            "kernel       6.1.0-18-amd64; features: btf, ringbuf; missing: xdp_native\n"
            "capture      interfaces eth0, eth1; ports 80, 443\n"
            "enforcement  enabled; 2 rules\n"
            "             eth0 XDP native, prog 42 (replaced a leftover program)\n"
            "             eth1 XDP generic, prog 43\n"
            "             heartbeat 120 ms old, timeout 5000 ms, then fail open (XDP passes "
            "everything)\n"
            "             dropped_packets 1500, passed_packets 99000\n"
            "tls          enabled, 2 libraries hooked\n"
            "anomaly      enabled, baselines 88% learned\n"
            "events       1234.5/s, lost 0/s, 3 lost since start\n");
  EXPECT_EQ(human.err, "");
  EXPECT_EQ(OnlyCall(), (std::pair<std::string, Json>("status", Json::object())));

  const Outcome json = Ctl({"status", "--json"});
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_EQ(Json::parse(json.out), Status());
  EXPECT_EQ(json.out, Status().dump(2) + "\n");  // pretty, one document
}

TEST_F(TrafficctlTest, StatusWithEnforcementAndAnomaliesOff) {
  Json status = Status();
  status["enforcement"] = Json{{"enabled", false}};
  status["tls"]["enabled"] = false;
  status["anomaly"]["enabled"] = false;
  status["uptime_s"] = 42;
  handler_.SetResult("status", status);
  const Outcome human = Ctl({"status"});
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_EQ(human.out,
            "traffic-analyzer 0.6.0, up 42s\n"
            "kernel       6.1.0-18-amd64; features: btf, ringbuf; missing: xdp_native\n"
            "capture      interfaces eth0, eth1; ports 80, 443\n"
            "enforcement  disabled\n"
            "tls          disabled\n"
            "anomaly      disabled\n"
            "events       1234.5/s, lost 0/s, 3 lost since start\n");
}

TEST_F(TrafficctlTest, RulesList) {
  const Outcome human = Ctl({"rules", "list"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out,
            "ID  KIND        SOURCE         PORT  EXPIRES               ORIGIN           "
            "DROPPED  REASON\n"
            " 7  drop        198.18.5.0/24  80    2026-11-25T03:00:00Z  operator            "
            "1200  scraper hammering /users during the l...\n"
            "12  rate_limit  198.18.0.2/32  any   never                 detector  4100 (dry run)"
            "  flood on :80 /users/{id}\n");
  EXPECT_EQ(OnlyCall(), (std::pair<std::string, Json>("rules.list", Json::object())));

  const Outcome json = Ctl({"--json", "rules", "list"});
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_EQ(Json::parse(json.out), (Json{{"rules", {OperatorRule(), DetectorRule()}}}));

  handler_.SetResult("rules.list", Json{{"rules", Json::array()}});
  const Outcome empty = Ctl({"rules", "list"});
  EXPECT_EQ(empty.exit_code, 0);
  EXPECT_EQ(empty.out, "no rules\n");
}

TEST_F(TrafficctlTest, RulesAddSendsOnlyTheGivenFields) {
  const Outcome human =
      Ctl({"rules", "add", "rate-limit", "198.18.0.2", "--rate", "100", "--burst", "200", "--ttl",
           "1h30m", "--dry-run", "--reason", "flood on :80 /users/{id}"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(OnlyCall(), (std::pair<std::string, Json>(
                            "rules.add", Json{{"kind", "rate_limit"},
                                              {"source", "198.18.0.2"},
                                              {"rate", 100.0},
                                              {"burst", 200},
                                              {"ttl_s", 5400},
                                              {"dry_run", true},
                                              {"reason", "flood on :80 /users/{id}"}})));
  EXPECT_EQ(human.out,
            "added rule 12: rate_limit 198.18.0.2/32, port any, 100/s burst 200 (dry run)\n"
            "  origin    detector flood, anomaly #31, offence 2\n"
            "  created   2026-11-25T01:50:00Z\n"
            "  expires   never\n"
            "  reason    flood on :80 /users/{id}\n"
            "  counters  matched 5000 packets (400000 bytes), dropped 0 (0 bytes), would drop "
            "4100 (328000 bytes)\n");

  handler_.ClearCalls();
  const Outcome syn = Ctl({"rules", "add", "syn-throttle", "--port", "443", "--admit", "0.25",
                           "--reason", "SYN flood", "--json"});
  EXPECT_EQ(syn.exit_code, 0) << syn.err;
  EXPECT_EQ(OnlyCall().second, (Json{{"kind", "syn_throttle"},
                                     {"port", 443},
                                     {"admit_ratio", 0.25},
                                     {"reason", "SYN flood"}}));
  EXPECT_EQ(Json::parse(syn.out), (Json{{"rule", DetectorRule()}}));

  handler_.ClearCalls();
  const Outcome drop =
      Ctl({"rules", "add", "drop", "198.18.5.0/24", "--port=80", "--ttl", "0.5m", "--reason", "x"});
  EXPECT_EQ(drop.exit_code, 0) << drop.err;
  EXPECT_EQ(OnlyCall().second, (Json{{"kind", "drop"},
                                     {"source", "198.18.5.0/24"},
                                     {"port", 80},
                                     {"ttl_s", 30},
                                     {"reason", "x"}}));
}

TEST_F(TrafficctlTest, RulesAddUsageErrorsNeverReachTheDaemon) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"rules", "add", "drop", "198.18.5.0/24"},
       "rules add needs --reason TEXT: it is shown in rules list and the audit log"},
      {{"rules", "add", "drop", "198.18.5.0/24", "--reason", "x", "--ttl", "10x"},
       "--ttl must be a duration like 30s, 10m, 2h or 1d, got '10x'"},
      {{"rules", "add", "drop", "198.18.5.0/24", "--reason", "x", "--ttl", "10"},
       "--ttl must be a duration like 30s, 10m, 2h or 1d, got '10'"},
      {{"rules", "add", "rate-limit", "198.18.5.0/24", "--rate", "fast", "--reason", "x"},
       "--rate must be a number of packets per second above 0, got 'fast'"},
      {{"rules", "add", "rate-limit", "198.18.5.0/24", "--reason", "x"},
       "a rate-limit rule needs --rate (packets per second)"},
      {{"rules", "add", "drop", "198.18.5.0/24", "--port", "70000", "--reason", "x"},
       "--port must be an integer from 1 to 65535, got '70000'"},
      {{"rules", "add", "drop", "--reason", "x"},
       "rules add drop needs a source address or CIDR, e.g. 198.18.5.0/24"},
      {{"rules", "add", "syn-throttle", "198.18.5.0/24", "--port", "80", "--reason", "x"},
       "a syn-throttle rule applies to a port, not to a source: drop '198.18.5.0/24' and give "
       "--port"},
      {{"rules", "add", "syn-throttle", "--reason", "x"},
       "a syn-throttle rule needs --port (the port whose SYNs it throttles)"},
      {{"rules", "add", "syn-throttle", "--port", "80", "--admit", "2", "--reason", "x"},
       "--admit must be the share of SYNs admitted, from 0 to 1, got '2'"},
      {{"rules", "add", "drop", "198.18.5.0/24", "--admit", "0.5", "--reason", "x"},
       "--admit applies to syn-throttle rules only"},
      {{"rules", "add", "block", "198.18.5.0/24", "--reason", "x"},
       "unknown rule kind 'block' (drop, rate-limit, syn-throttle or allow)"},
      {{"rules", "add", "drop", "198.18.5.0/24", "--reason", "x", "--force"},
       "unknown option '--force' for 'rules add' (it takes --admit, --burst, --port, --rate, "
       "--reason, --ttl, --dry-run)"},
      {{"rules", "del", "seven"},
       "the rule ID must be an integer from 1 to 9007199254740992, "
       "got 'seven'"},
      {{"rules", "explain"}, "rules explain needs exactly one rule ID"},
      {{"rules", "purge"}, "unknown rules subcommand 'purge' (list, add, del, explain)"},
      {{"rules"}, "rules needs a subcommand: list, add, del or explain"},
  };
  for (const auto& [args, message] : cases) {
    const Outcome outcome = Ctl(args);
    EXPECT_EQ(outcome.exit_code, 2) << message;
    EXPECT_TRUE(outcome.err.starts_with("trafficctl: " + message + "\n\nusage: trafficctl"))
        << outcome.err;
    EXPECT_EQ(outcome.out, "");
  }
  EXPECT_TRUE(handler_.calls().empty());
}

TEST_F(TrafficctlTest, RulesDelAndARefusal) {
  const Outcome deleted = Ctl({"rules", "del", "7"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "deleted rule 7: drop 198.18.5.0/24, port 80\n");
  EXPECT_EQ(OnlyCall(), (std::pair<std::string, Json>("rules.del", Json{{"id", 7}})));

  handler_.SetError("rules.del", "no rule 999: trafficctl rules list shows the ids");
  const Outcome refused = Ctl({"rules", "del", "999"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.out, "");
  EXPECT_EQ(refused.err, "trafficctl: no rule 999: trafficctl rules list shows the ids\n");

  handler_.SetError("rules.add",
                    "'10.1.2.3/8': host bits are set (did you mean 10.0.0.0/8, "
                    "or 10.1.2.3/32?)");
  const Outcome bad_cidr = Ctl({"rules", "add", "drop", "10.1.2.3/8", "--reason", "x"});
  EXPECT_EQ(bad_cidr.exit_code, 1);
  EXPECT_EQ(bad_cidr.err,
            "trafficctl: '10.1.2.3/8': host bits are set (did you mean "
            "10.0.0.0/8, or 10.1.2.3/32?)\n");
}

TEST_F(TrafficctlTest, RulesExplain) {
  const Outcome human = Ctl({"rules", "explain", "12"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out,
            "rule 12: rate_limit 198.18.0.2/32, port any, 100/s burst 200 (dry run)\n"
            "  origin    detector flood, anomaly #31, offence 2\n"
            "  created   2026-11-25T01:50:00Z\n"
            "  expires   never\n"
            "  reason    flood on :80 /users/{id}\n"
            "  counters  matched 5000 packets (400000 bytes), dropped 0 (0 bytes), would drop "
            "4100 (328000 bytes)\n"
            "  anomaly   #31 flood (critical, resolved), started 2026-11-25T01:49:00Z\n"
            "\n"
            "anomaly #31 (flood) fired twice in a row; second offence, so the rule lasts 20m\n");
  EXPECT_EQ(OnlyCall(), (std::pair<std::string, Json>("rules.explain", Json{{"id", 12}})));
  const Outcome json = Ctl({"rules", "explain", "12", "--json"});
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_EQ(Json::parse(json.out)["anomaly"]["id"], 31);
}

TEST_F(TrafficctlTest, ThresholdsGetAndSet) {
  const Outcome get = Ctl({"thresholds", "get"});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out,
            "DETECTOR  PARAMETER    PORT  ROUTE    VALUE  EXPIRES               REASON\n"
            "flood     z_threshold  any   any      5      2026-11-25T04:00:00Z  launch\n"
            "latency   min_ms       8080  /search  250.5  never                 \n"
            "\n"
            "parameters that can be set:\n"
            "DETECTOR  PARAMETER    MIN  MAX    HELP\n"
            "flood     z_threshold  1    20     standard deviations above the baseline that "
            "fire\n"
            "latency   min_ms       1    60000  p99 below this never fires\n");
  EXPECT_EQ(Json::parse(Ctl({"thresholds", "get", "--json"}).out), Thresholds());

  handler_.ClearCalls();
  // The issue's example: widen the flood Z-score to 5.0 for two hours during a launch.
  const Outcome set = Ctl(
      {"thresholds", "set", "flood", "z_threshold", "5.0", "--ttl", "2h", "--reason", "launch"});
  EXPECT_EQ(set.exit_code, 0) << set.err;
  EXPECT_EQ(set.out,
            "flood.z_threshold = 5 on port any, route any, until 2026-11-25T04:00:00Z "
            "(launch)\n");
  EXPECT_EQ(OnlyCall(),
            (std::pair<std::string, Json>("thresholds.set", Json{{"detector", "flood"},
                                                                 {"parameter", "z_threshold"},
                                                                 {"value", 5.0},
                                                                 {"ttl_s", 7200},
                                                                 {"reason", "launch"}})));
  handler_.ClearCalls();
  const Outcome scoped =
      Ctl({"thresholds", "set", "latency", "min_ms", "-1", "--port", "8080", "--route", "/search"});
  EXPECT_EQ(scoped.exit_code, 0) << scoped.err;
  EXPECT_EQ(OnlyCall().second, (Json{{"detector", "latency"},
                                     {"parameter", "min_ms"},
                                     {"value", -1.0},
                                     {"port", 8080},
                                     {"route", "/search"}}));

  const Outcome bad = Ctl({"thresholds", "set", "flood", "z_threshold", "high"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(bad.err.starts_with("trafficctl: VALUE must be a number, got 'high'\n")) << bad.err;
  handler_.SetError("thresholds.set", "z_threshold must be between 1 and 20, got 50");
  const Outcome refused = Ctl({"thresholds", "set", "flood", "z_threshold", "50"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.err, "trafficctl: z_threshold must be between 1 and 20, got 50\n");
}

TEST_F(TrafficctlTest, AnomaliesExitsThreeWhileOneFires) {
  const Outcome quiet = Ctl({"anomalies"});
  EXPECT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.out,
            "no anomaly is firing\n"
            "RECENT (1)\n"
            "#31 flood critical resolved since 2026-11-25T01:49:00Z on :80 /users/{id} from "
            "198.18.0.2\n"
            "    observed 950.5 req/s, baseline 120 req/s, score 7.9 (threshold 4)\n"
            "    flood on :80 /users/{id}: 950.5 req/s against a baseline of 120\n");
  EXPECT_EQ(OnlyCall(), (std::pair<std::string, Json>("anomalies", Json{{"limit", 20}})));

  Json firing = FloodAnomaly("firing");
  firing["route"] = nullptr;
  firing["subject"] = nullptr;
  handler_.SetResult("anomalies", Json{{"active", {firing}}, {"recent", Json::array()}});
  handler_.ClearCalls();
  const Outcome active = Ctl({"anomalies", "--limit", "5"});
  EXPECT_EQ(active.exit_code, 3) << active.err;
  EXPECT_EQ(active.out,
            "FIRING (1)\n"
            "#31 flood critical firing since 2026-11-25T01:49:00Z on :80\n"
            "    observed 950.5 req/s, baseline 120 req/s, score 7.9 (threshold 4)\n"
            "    flood on :80 /users/{id}: 950.5 req/s against a baseline of 120\n"
            "no recent anomalies\n");
  EXPECT_EQ(OnlyCall().second, (Json{{"limit", 5}}));
  const Outcome json = Ctl({"anomalies", "--json"});
  EXPECT_EQ(json.exit_code, 3);
  EXPECT_EQ(Json::parse(json.out)["active"][0]["state"], "firing");
  EXPECT_EQ(Ctl({"anomalies", "--limit", "0"}).exit_code, 2);
}

TEST_F(TrafficctlTest, ObserveHumanAndJsonLines) {
  std::vector<ObservedRequest> events(4, SampleRequest());
  events[1].status = 503;
  events[1].latency_ms = 250.04;
  events[2].protocol = "grpc";
  events[2].method = "POST";
  events[2].route = "";
  events[2].path = "/shop.Cart/Add";
  events[2].status = 200;
  events[2].grpc_status = 14;
  events[2].client = "[2001:db8::2]:5000";
  events[2].port = 443;
  server_->PublishOnceObserved(events);
  const Outcome human = Ctl({"observe", "--count", "3"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out,
            "00:00:01.123 198.18.0.2:4312 -> :80 GET /users/{id} 200 3.1ms http1\n"
            "00:00:01.123 198.18.0.2:4312 -> :80 GET /users/{id} 503 250.0ms http1\n"
            "00:00:01.123 [2001:db8::2]:5000 -> :443 POST /shop.Cart/Add 200 grpc-status 14 "
            "3.1ms grpc\n");
  EXPECT_EQ(human.err, "");
}

TEST_F(TrafficctlTest, ObserveFiltersAndJsonLines) {
  std::vector<ObservedRequest> events(3, SampleRequest());
  events[1].status = 503;
  events[2].status = 500;
  events[2].port = 8080;
  server_->PublishOnceObserved(events);
  const Outcome json =
      Ctl({"observe", "--status", "5xx", "--port", "80", "--json", "--duration", "0.5s"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.out, ToJson(events[1]).dump() + "\n");  // JSON lines: one object per line

  const Outcome refused = Ctl({"observe", "--protocol", "ftp"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.err,
            "trafficctl: observe filter 'protocol' must be http1, http2 or grpc, got 'ftp'\n");
  EXPECT_EQ(Ctl({"observe", "--count", "none"}).exit_code, 2);
  EXPECT_EQ(Ctl({"observe", "--duration", "soon"}).exit_code, 2);
  EXPECT_TRUE(handler_.calls().empty());  // observe is the server's own
}

TEST_F(TrafficctlTest, TopSortsByRateAndPrintsEachIteration) {
  const Outcome human = Ctl({"top", "--iterations", "2", "--interval", "0.01"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  const std::string table =
      "busiest routes over the last 10 s\n"
      "PORT  ROUTE          RPS  ERR/S   ERR%      P99\n"
      "  80  /users/{id}  950.5    9.5   1.0%   31.2ms\n"
      " 443  /login        40.0   20.0  50.0%  120.0ms\n"
      "  80  /health        2.0    0.0   0.0%    0.4ms\n";
  EXPECT_EQ(human.out, table + "\n" + table);  // not a terminal: no ANSI clearing
  const auto calls = handler_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], (std::pair<std::string, Json>("top", Json::object())));

  const Outcome json = Ctl({"top", "--iterations", "3", "--interval", "10ms", "--json"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.out, Top().dump() + "\n" + Top().dump() + "\n" + Top().dump() + "\n");

  handler_.SetResult("top", Json{{"window_s", 10}, {"routes", Json::array()}});
  const Outcome idle = Ctl({"top", "--iterations", "1"});
  EXPECT_EQ(idle.out, "no requests on the watched ports in the last 10 s\n");
  EXPECT_EQ(Ctl({"top", "--interval", "0"}).exit_code, 2);
}

TEST_F(TrafficctlTest, TheSocketComesFromTheConfigFile) {
  const std::string config = dir_ / "traffic-analyzer.yaml";
  std::ofstream(config) << "ports: [80]\ncontrol:\n  socket: " << server_->path() << "\n";
  const Outcome outcome = RunTrafficctl(dir_, {"--config", config, "rules", "list"});
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(OnlyCall().first, "rules.list");

  const Outcome missing = RunTrafficctl(dir_, {"--config", dir_ / "absent.yaml", "status"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(
      missing.err.starts_with("trafficctl: cannot read --config " + (dir_ / "absent.yaml") + ": "))
      << missing.err;
}

TEST_F(TrafficctlTest, AnUnreachableDaemonExitsFour) {
  const std::string path = dir_ / "nothing.sock";
  for (const std::vector<std::string>& command : {std::vector<std::string>{"status"},
                                                  {"rules", "list"},
                                                  {"anomalies"},
                                                  {"observe"},
                                                  {"top", "--iterations", "1"},
                                                  {"thresholds", "get"}}) {
    std::vector<std::string> args = {"--socket", path};
    args.insert(args.end(), command.begin(), command.end());
    const Outcome outcome = RunTrafficctl(dir_, args);
    EXPECT_EQ(outcome.exit_code, 4) << command[0];
    EXPECT_EQ(outcome.err, "trafficctl: traffic-analyzer is not running (no control socket at " +
                               path +
                               "; start it with systemctl start traffic-analyzer, or pass "
                               "--socket)\n");
  }
}

TEST_F(TrafficctlTest, UsageErrorsExitTwo) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{},
                                               {"frobnicate"},
                                               {"status", "extra"},
                                               {"--socket"},
                                               {"thresholds"},
                                               {"thresholds", "set", "flood"},
                                               {"status", "--verbose"}}) {
    const Outcome outcome = RunTrafficctl(dir_, args);
    EXPECT_EQ(outcome.exit_code, 2) << (args.empty() ? "" : args[0]);
    EXPECT_NE(outcome.err.find("\nusage: trafficctl"), std::string::npos) << outcome.err;
  }
  const Outcome help = RunTrafficctl(dir_, {"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(help.out.starts_with("usage: trafficctl")) << help.out;
}

}  // namespace
}  // namespace ta::agent::control
