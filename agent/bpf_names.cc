#include "agent/bpf_names.h"

#include <bpf/bpf.h>
#include <unistd.h>

namespace ta::agent {

std::string BpfProgramName(uint32_t id) {
  const int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return "";
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  std::string name;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) name = info.name;
  ::close(fd);
  return name;
}

}  // namespace ta::agent
