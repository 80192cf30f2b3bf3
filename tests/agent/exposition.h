// Reading the Prometheus text exposition in tests: look a series up by its exact name and labels.
#pragma once

#include <sstream>
#include <string>

namespace ta::agent {

// The value of the series written exactly as `series` (name and labels, in the exposition's
// label order), or "<absent>".
inline std::string SeriesValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return line.substr(series.size() + 1);
    }
  }
  return "<absent>";
}

}  // namespace ta::agent
