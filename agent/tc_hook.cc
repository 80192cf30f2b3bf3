#include "agent/bpf_names.h"
#include "agent/tc_hook.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace ta::agent {
namespace {

constexpr uint32_t kClsactIngressParent = 0xFFFFFFF2;  // TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)
constexpr uint32_t kClsactEgressParent = 0xFFFFFFF3;   // TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)

const char* PointName(bpf_tc_attach_point point) {
  return point == BPF_TC_INGRESS ? "ingress" : "egress";
}


Result<void> AttachOne(int ifindex, const std::string& ifname, bpf_tc_attach_point point,
                       const TcProgram& prog) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
  LIBBPF_OPTS(bpf_tc_opts, query, .handle = kTcHandle, .priority = kTcPriority);
  uint32_t flags = 0;
  if (bpf_tc_query(&hook, &query) == 0) {
    std::string existing = BpfProgramName(query.prog_id);
    if (existing != prog.name) {
      return Error{EEXIST,
                   fmt::format("tc {} on {} already has a filter at handle {:#x} priority {:#x} "
                               "running program id {} ('{}'), which is not ours; remove it or "
                               "free that handle/priority",
                               PointName(point), ifname, kTcHandle, kTcPriority, query.prog_id,
                               existing)};
    }
    spdlog::warn("tc {} on {}: replacing a filter left by a previous run (program id {})",
                 PointName(point), ifname, query.prog_id);
    flags = BPF_TC_F_REPLACE;
  }
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog.fd, .flags = flags, .handle = kTcHandle,
              .priority = kTcPriority);
  if (int err = bpf_tc_attach(&hook, &opts); err != 0) {
    return ErrnoError(fmt::format("attaching tc {} program to {} failed (CAP_NET_ADMIN missing, "
                                  "or the interface went away)",
                                  PointName(point), ifname),
                      err);
  }
  return {};
}

void DetachOne(int ifindex, const std::string& ifname, bpf_tc_attach_point point) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  if (int err = bpf_tc_detach(&hook, &opts); err != 0 && err != -ENOENT && err != -ENODEV) {
    spdlog::warn("detaching tc {} filter from {} failed: {}", PointName(point), ifname,
                 std::strerror(-err));
  }
}

}  // namespace

Result<int> CountTcFilters(int ifindex, uint32_t parent) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return ErrnoError("netlink socket");
  struct Request {
    nlmsghdr nh;
    tcmsg tc;
  } req{};
  req.nh.nlmsg_len = sizeof(req);
  req.nh.nlmsg_type = RTM_GETTFILTER;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.tc.tcm_family = AF_UNSPEC;
  req.tc.tcm_ifindex = ifindex;
  req.tc.tcm_parent = parent;
  if (send(fd, &req, sizeof(req), 0) < 0) {
    Error e = ErrnoError("netlink send RTM_GETTFILTER");
    close(fd);
    return e;
  }
  int count = 0;
  std::array<char, 32768> buf{};
  for (;;) {
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error e = ErrnoError("netlink recv");
      close(fd);
      return e;
    }
    auto len = static_cast<unsigned int>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nh, len);
         nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type == NLMSG_DONE) {
        close(fd);
        return count;
      }
      if (nh->nlmsg_type == NLMSG_ERROR) {
        auto* err = reinterpret_cast<nlmsgerr*>(reinterpret_cast<char*>(nh) + NLMSG_HDRLEN);
        close(fd);
        if (err->error == -ENOENT || err->error == -EINVAL) return 0;  // no qdisc: no filters
        return ErrnoError("netlink RTM_GETTFILTER", -err->error);
      }
      if (nh->nlmsg_type == RTM_NEWTFILTER) {
        // A dump lists each filter, plus one entry per filter chain head (handle 0).
        auto* tc = reinterpret_cast<tcmsg*>(reinterpret_cast<char*>(nh) + NLMSG_HDRLEN);
        if (tc->tcm_handle != 0) ++count;
      }
    }
  }
}

Result<std::unique_ptr<TcAttachment>> TcAttachment::Attach(const std::string& ifname,
                                                           const TcProgram& ingress,
                                                           const TcProgram& egress) {
  int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (ifindex == 0) {
    return ErrnoError(fmt::format("interface '{}' does not exist; check `interfaces` in the "
                                  "config (ip -br link lists them)",
                                  ifname));
  }
  std::unique_ptr<TcAttachment> att(new TcAttachment(ifname, ifindex));
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_create(&hook);
  if (err == 0) {
    att->created_qdisc_ = true;
  } else if (err != -EEXIST) {
    return ErrnoError(fmt::format("creating clsact qdisc on {} failed (CAP_NET_ADMIN missing, or "
                                  "the kernel lacks CONFIG_NET_SCH_INGRESS)",
                                  ifname),
                      err);
  }
  if (auto r = AttachOne(ifindex, ifname, BPF_TC_INGRESS, ingress); !r) return r.error();
  att->ingress_attached_ = true;
  if (auto r = AttachOne(ifindex, ifname, BPF_TC_EGRESS, egress); !r) return r.error();
  att->egress_attached_ = true;
  return att;
}

void TcAttachment::Detach() {
  if (ingress_attached_) DetachOne(ifindex_, ifname_, BPF_TC_INGRESS);
  if (egress_attached_) DetachOne(ifindex_, ifname_, BPF_TC_EGRESS);
  ingress_attached_ = egress_attached_ = false;
  if (!created_qdisc_) return;
  created_qdisc_ = false;
  auto in = CountTcFilters(ifindex_, kClsactIngressParent);
  auto out = CountTcFilters(ifindex_, kClsactEgressParent);
  if (!in || !out) {
    spdlog::warn("leaving the clsact qdisc on {}: cannot list its filters ({})", ifname_,
                 (!in ? in.error() : out.error()).ToString());
    return;
  }
  if (*in + *out > 0) {
    spdlog::info("leaving the clsact qdisc on {}: {} filter(s) of other programs remain", ifname_,
                 *in + *out);
    return;
  }
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  if (int err = bpf_tc_hook_destroy(&hook); err != 0 && err != -ENOENT && err != -ENODEV) {
    spdlog::warn("removing the clsact qdisc from {} failed: {}", ifname_, std::strerror(-err));
  }
}

TcAttachment::~TcAttachment() { Detach(); }

}  // namespace ta::agent
