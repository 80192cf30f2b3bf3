// The name of a loaded BPF program by id, for messages about programs found on an interface
// (ours or someone else's): the tc and XDP loaders and `trafficctl doctor`.
#pragma once

#include <cstdint>
#include <string>

namespace ta::agent {

// bpf_prog_info.name of program `id`; "" when it cannot be read (it vanished, or no
// CAP_SYS_ADMIN for BPF_PROG_GET_FD_BY_ID).
std::string BpfProgramName(uint32_t id);

}  // namespace ta::agent
