// Attaching tc clsact programs to one interface, and taking them off again without touching
// anything that is not ours.
//
// Rules an operator can rely on:
//  - our filters use a fixed handle and priority (kTcHandle/kTcPriority), so a filter left by a
//    daemon that was killed with SIGKILL is recognised by its program name and replaced on the
//    next start instead of running twice;
//  - a filter at that handle/priority whose program is not ours is never replaced: attach fails
//    with a message naming it;
//  - a clsact qdisc we did not create is never removed; one we created is removed on detach only
//    when no other filter (someone else's, added since) remains on it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/result.h"

namespace ta::agent {

// 0x5441 = "TA". The priority also orders us among other filters on the hook: lower runs first.
inline constexpr uint32_t kTcHandle = 0x5441;
inline constexpr uint32_t kTcPriority = 0x5441;

struct TcProgram {
  int fd = -1;
  std::string name;  // program name as the kernel reports it (<= 15 chars)
};

class TcAttachment {
 public:
  static Result<std::unique_ptr<TcAttachment>> Attach(const std::string& ifname,
                                                      const TcProgram& ingress,
                                                      const TcProgram& egress);
  ~TcAttachment();
  TcAttachment(const TcAttachment&) = delete;
  TcAttachment& operator=(const TcAttachment&) = delete;

  // Removes our filters (and the qdisc if we created it and it is otherwise empty). Idempotent;
  // also run by the destructor. Problems are logged, not thrown: detach runs on shutdown paths.
  void Detach();

  const std::string& ifname() const { return ifname_; }
  int ifindex() const { return ifindex_; }
  bool created_qdisc() const { return created_qdisc_; }

 private:
  TcAttachment(std::string ifname, int ifindex) : ifname_(std::move(ifname)), ifindex_(ifindex) {}

  std::string ifname_;
  int ifindex_;
  bool created_qdisc_ = false;
  bool ingress_attached_ = false;
  bool egress_attached_ = false;
};

// Number of tc filters on `ifindex` under `parent` (e.g. the clsact ingress or egress hook),
// from an RTM_GETTFILTER netlink dump. Exposed for tests and `trafficctl doctor`.
Result<int> CountTcFilters(int ifindex, uint32_t parent);

}  // namespace ta::agent
