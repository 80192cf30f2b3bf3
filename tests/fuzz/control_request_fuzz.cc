// What an operator (or anything that can open the control socket) sends the daemon: arbitrary
// bytes as a CIDR, and, when they parse as JSON, as the args of `rules.add` and of `observe`.
// Every input must end in a value or an error message (never an exception or a crash), and
// what is accepted must be consistent: a parsed CIDR prints to text that parses back to itself
// and contains its own network address.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "agent/control/control_server.h"
#include "agent/enforce/cidr.h"
#include "agent/enforce/rule_json.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_target.h"

TA_FUZZ_TARGET(control_request) {
  const ta::fuzz::ExactBytes text(std::span<const uint8_t>(data, size));
  using ta::agent::enforce::Cidr;
  if (auto cidr = Cidr::Parse(text.view()); cidr.ok()) {
    const Cidr& c = cidr.value();
    TA_FUZZ_CHECK(c.family == 2 || c.family == 10);
    TA_FUZZ_CHECK(c.prefix_len <= (c.family == 2 ? 32 : 128));
    TA_FUZZ_CHECK(c.Contains(c.family, c.addr));
    auto again = Cidr::Parse(c.ToString());
    TA_FUZZ_CHECK(again.ok() && again.value() == c);
  } else {
    TA_FUZZ_CHECK(!cidr.error().message.empty());
  }

  // parse() without exceptions: a discarded value for anything that is not JSON.
  const nlohmann::json args = nlohmann::json::parse(text.view(), nullptr, false);
  if (args.is_discarded()) return;
  try {
    if (auto request = ta::agent::enforce::RuleRequestFromJson(args); !request.ok()) {
      TA_FUZZ_CHECK(!request.error().message.empty());
    }
    if (auto filter = ta::agent::control::ObserveFilter::FromJson(args); !filter.ok()) {
      TA_FUZZ_CHECK(!filter.error().message.empty());
    }
  } catch (const nlohmann::json::exception&) {
    TA_FUZZ_CHECK(false);  // the parsers must answer with errors, not throw
  }
}
