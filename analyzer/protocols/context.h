// What every protocol connection shares: configuration, counters, the route table and the sink.
#pragma once

#include "analyzer/analyzer.h"
#include "analyzer/http_exchange.h"
#include "analyzer/routes/route_template.h"

namespace ta::analyzer::protocols {

struct ConnectionContext {
  const AnalyzerConfig& config;
  AnalyzerStats& stats;
  routes::RouteTemplater& routes;
  ExchangeSink& sink;
};

}  // namespace ta::analyzer::protocols
