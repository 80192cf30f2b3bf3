// `traffic-analyzer replay FILE [--config FILE]`: feeds a capture file through the same analyzer
// the daemon runs and prints the metrics it would export. Needs no privileges.
//
// pcap and pcapng files are read with libpcap; link types Ethernet (EN10MB), Linux cooked
// capture v1 and v2 (LINUX_SLL, LINUX_SLL2, what `tcpdump -i any` writes) and raw IP are
// supported. Time is the capture's: packet timestamps drive the analyzer's timeouts, so a replay
// gives the same result however fast it runs.
//
// End of file is not a close: connections still open then are left as they are, and only
// exchanges that completed within the capture are reported (an in-flight request is neither an
// exchange nor a loss). traffic_analyzer_connections_tracked shows how many were still open.
#pragma once

#include <iosfwd>
#include <string>

#include "agent/config.h"

namespace ta::agent {

inline constexpr int kReplayExitOk = 0;
inline constexpr int kReplayExitBadInput = 1;  // file missing, unreadable, corrupt or unsupported

// Replays `pcap_path` with the analyzer settings of `config` (ports, snaplen, connections.*,
// routes.*; interfaces, ringbuf_size and metrics.listen do not apply). Writes the Prometheus
// text exposition to `out` and a one-line summary, or what went wrong and what to do, to `err`.
// Returns kReplayExitOk or kReplayExitBadInput. On a read error part-way (a truncated file), the
// metrics of the packets before it are still written to `out`.
int RunReplay(const Config& config, const std::string& pcap_path, std::ostream& out,
              std::ostream& err);

}  // namespace ta::agent
