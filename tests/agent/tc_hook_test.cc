// Privileged: attaches real tc filters to a veth the test creates (no traffic is sent).
#include "agent/tc_hook.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "tests/common/privileges.h"

namespace ta::agent {
namespace {

constexpr uint32_t kIngress = 0xFFFFFFF2;
constexpr uint32_t kEgress = 0xFFFFFFF3;

std::string Sh(const std::string& cmd) {
  std::string out;
  std::unique_ptr<FILE, decltype(&pclose)> p(popen((cmd + " 2>&1").c_str(), "r"), pclose);
  if (!p) return out;
  std::array<char, 512> buf{};
  while (fgets(buf.data(), buf.size(), p.get()) != nullptr) out += buf.data();
  return out;
}

// A sched_cls program "r0 = TC_ACT_UNSPEC; exit" with the given name.
int LoadProg(const char* name) {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0,
       .imm = -1},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, name, "GPL", insns, 2, nullptr);
}

class TcHookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TA_REQUIRE_ROOT();
    ifname_ = "tatest" + std::to_string(getpid() % 100000);
    Sh("ip link del " + ifname_);
    ASSERT_EQ(Sh("ip link add " + ifname_ + " type veth peer name " + ifname_ + "p"), "");
    ingress_ = {LoadProg("ta_tc_ingress"), "ta_tc_ingress"};
    egress_ = {LoadProg("ta_tc_egress"), "ta_tc_egress"};
    ASSERT_GE(ingress_.fd, 0);
    ASSERT_GE(egress_.fd, 0);
    ifindex_ = static_cast<int>(if_nametoindex(ifname_.c_str()));
  }
  void TearDown() override {
    if (!ifname_.empty()) Sh("ip link del " + ifname_);
    if (ingress_.fd >= 0) close(ingress_.fd);
    if (egress_.fd >= 0) close(egress_.fd);
  }
  bool HasClsact() { return Sh("tc qdisc show dev " + ifname_).find("clsact") != std::string::npos; }
  int Filters(uint32_t parent) {
    auto n = CountTcFilters(ifindex_, parent);
    EXPECT_TRUE(n.ok()) << n.error().ToString();
    return n.ok() ? *n : -1;
  }

  std::string ifname_;
  int ifindex_ = 0;
  TcProgram ingress_, egress_;
};

TEST_F(TcHookTest, AttachCreatesQdiscAndDetachRemovesIt) {
  auto att = TcAttachment::Attach(ifname_, ingress_, egress_);
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  EXPECT_TRUE((*att)->created_qdisc());
  EXPECT_TRUE(HasClsact());
  EXPECT_EQ(Filters(kIngress), 1);
  EXPECT_EQ(Filters(kEgress), 1);
  (*att)->Detach();
  EXPECT_FALSE(HasClsact());
  EXPECT_EQ(Filters(kIngress), 0);
}

TEST_F(TcHookTest, ExistingQdiscIsNeverRemoved) {
  ASSERT_EQ(Sh("tc qdisc add dev " + ifname_ + " clsact"), "");
  auto att = TcAttachment::Attach(ifname_, ingress_, egress_);
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  EXPECT_FALSE((*att)->created_qdisc());
  (*att)->Detach();
  EXPECT_TRUE(HasClsact());
  EXPECT_EQ(Filters(kIngress), 0);
  EXPECT_EQ(Filters(kEgress), 0);
}

TEST_F(TcHookTest, QdiscWeCreatedStaysWhileAnotherFilterUsesIt) {
  auto att = TcAttachment::Attach(ifname_, ingress_, egress_);
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  // Someone else attaches a filter after us.
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = BPF_TC_INGRESS);
  int theirs = LoadProg("other_tool");
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = theirs, .handle = 1, .priority = 1);
  ASSERT_EQ(bpf_tc_attach(&hook, &opts), 0);
  close(theirs);
  (*att)->Detach();
  EXPECT_TRUE(HasClsact());
  EXPECT_EQ(Filters(kIngress), 1);  // theirs, untouched
  EXPECT_EQ(Filters(kEgress), 0);
}

TEST_F(TcHookTest, StaleFilterOfOursIsReplaced) {
  // A previous daemon killed with SIGKILL leaves its filters behind.
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  ASSERT_EQ(bpf_tc_hook_create(&hook), 0);
  hook.attach_point = BPF_TC_INGRESS;
  int stale = LoadProg("ta_tc_ingress");
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = stale, .handle = kTcHandle, .priority = kTcPriority);
  ASSERT_EQ(bpf_tc_attach(&hook, &opts), 0);
  close(stale);

  auto att = TcAttachment::Attach(ifname_, ingress_, egress_);
  ASSERT_TRUE(att.ok()) << att.error().ToString();
  EXPECT_EQ(Filters(kIngress), 1);
  LIBBPF_OPTS(bpf_tc_opts, q, .handle = kTcHandle, .priority = kTcPriority);
  ASSERT_EQ(bpf_tc_query(&hook, &q), 0);
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(ingress_.fd, &info, &len), 0);
  EXPECT_EQ(q.prog_id, info.id);  // now runs the new program
}

TEST_F(TcHookTest, ForeignFilterAtOurHandleIsRefused) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  ASSERT_EQ(bpf_tc_hook_create(&hook), 0);
  hook.attach_point = BPF_TC_INGRESS;
  int foreign = LoadProg("cilium_ingress");
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = foreign, .handle = kTcHandle, .priority = kTcPriority);
  ASSERT_EQ(bpf_tc_attach(&hook, &opts), 0);

  auto att = TcAttachment::Attach(ifname_, ingress_, egress_);
  ASSERT_FALSE(att.ok());
  EXPECT_NE(att.error().message.find("('cilium_ingress'), which is not ours"), std::string::npos)
      << att.error().message;
  EXPECT_EQ(Filters(kIngress), 1);  // still theirs
  LIBBPF_OPTS(bpf_tc_opts, q, .handle = kTcHandle, .priority = kTcPriority);
  ASSERT_EQ(bpf_tc_query(&hook, &q), 0);
  close(foreign);
}

TEST_F(TcHookTest, MissingInterfaceNamesTheFix) {
  auto att = TcAttachment::Attach("nosuchif0", ingress_, egress_);
  ASSERT_FALSE(att.ok());
  EXPECT_EQ(att.error().message,
            "interface 'nosuchif0' does not exist; check `interfaces` in the config (ip -br link "
            "lists them)");
}

}  // namespace
}  // namespace ta::agent
