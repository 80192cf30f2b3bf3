// The daemon's run loop: checks prerequisites, loads and attaches the tc programs, polls the
// ring buffer into the analyzer, exports metrics, and detaches everything on SIGINT/SIGTERM.
#pragma once

#include "agent/config.h"

namespace ta::agent {

// Returns the process exit code: 0 after a clean shutdown, 1 when start-up failed (the reason
// has been logged), 2 when the ring buffer failed while running.
int RunDaemon(const Config& config);

}  // namespace ta::agent
