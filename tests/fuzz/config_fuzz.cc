// The daemon's strict YAML configuration parser (agent/config.h) on arbitrary text: it must
// answer every input with a Config or an error message that says where (never an exception or
// a crash), and a Config it accepts must build an Analyzer. The listen-address parser gets the
// same bytes on its own.
#include <string_view>

#include "agent/config.h"
#include "analyzer/analyzer.h"
#include "analyzer/http_exchange.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

class NullSink final : public ta::analyzer::ExchangeSink {
 public:
  void OnHttpExchange(const ta::analyzer::HttpExchange& /*exchange*/) override {}
};

}  // namespace

TA_FUZZ_TARGET(config) {
  const ta::fuzz::ExactBytes text(std::span<const uint8_t>(data, size));
  const ta::Result<ta::agent::Config> config = ta::agent::ParseConfig(text.view());
  if (config.ok()) {
    const ta::agent::Config& c = config.value();
    TA_FUZZ_CHECK(c.ports.size() <= ta::agent::ConfigLimits::kMaxPorts);
    TA_FUZZ_CHECK(c.snaplen >= ta::agent::ConfigLimits::kMinSnaplen &&
                  c.snaplen <= ta::agent::ConfigLimits::kMaxSnaplen);
    TA_FUZZ_CHECK(ta::agent::ParseListenAddress(c.metrics.listen).ok());
    NullSink sink;
    ta::analyzer::Analyzer analyzer(c.ToAnalyzerConfig(), sink);
  } else {
    TA_FUZZ_CHECK(config.error().message.starts_with("config:"));
  }
  const ta::Result<ta::agent::ListenAddress> listen = ta::agent::ParseListenAddress(text.view());
  if (listen.ok()) TA_FUZZ_CHECK(listen.value().port != 0);
}
