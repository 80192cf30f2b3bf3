// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * xdp_enforce.bpf.c - the enforcement datapath: blocklist, allowlist, per-source rate limits and
 * a SYN admission throttle, decided per ingress frame at XDP before the stack allocates an skb.
 *
 * The verdict order, every map's layout and the meaning of every counter are in ta_abi.h
 * ("XDP enforcement"); docs/enforcement-datapath.md explains the choices. In short:
 *
 *   heartbeat stale -> PASS; not IP / malformed -> PASS; allowlisted -> PASS;
 *   blocklist (longest prefix) -> DROP, or GCRA per (rule, source); SYN throttle; PASS.
 *
 * Everything shared between CPUs (a source's GCRA timestamp, a rule's newcomer budget, a port's
 * SYN credit) is one __u64 updated by compare-and-swap with a bounded number of retries
 * (BPF_CMPXCHG, Linux 5.12); a CPU that loses TA_XDP_CAS_RETRIES times in a row judges the
 * packet as exceeding and counts TA_XDP_STAT_CAS_CONTENDED. Counters are per-CPU: XDP runs in
 * NAPI context, one frame at a time per CPU, so a plain add is exact.
 *
 * Needs Linux 5.18 for bpf_xdp_get_buff_len() and bpf_xdp_load_bytes().
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "ta_abi.h"
#include "parse.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Read back by the daemon to refuse an object built from another ta_abi.h. */
const volatile __u32 abi_version = TA_ABI_VERSION;

/* Compare-and-swap attempts before giving up on a contended word. Four is plenty: a retry is
 * needed only when another CPU updated the same word between our read and our swap, a window
 * of a few nanoseconds; losing four times in a row means many CPUs hammer one source or one
 * port, and then judging one packet as exceeding is the right answer anyway. */
#define TA_XDP_CAS_RETRIES 4

#define TA_U64_MAX (~0ULL)

#ifndef EEXIST
#define EEXIST 17
#endif

/* All sizes are placeholders: the loader sets them from the configuration before load
 * (bpf_map__set_max_entries). LPM tries must be BPF_F_NO_PREALLOC. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ta_xdp_lpm_v4_key);
	__type(value, struct ta_xdp_rule);
} ta_xdp_allow_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ta_xdp_lpm_v6_key);
	__type(value, struct ta_xdp_rule);
} ta_xdp_allow_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ta_xdp_lpm_v4_key);
	__type(value, struct ta_xdp_rule);
} ta_xdp_block_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ta_xdp_lpm_v6_key);
	__type(value, struct ta_xdp_rule);
} ta_xdp_block_v6 SEC(".maps");

/* GCRA theoretical arrival time per (rule, source). LRU: a source that stops sending ages out
 * and, should it come back, is a newcomer again (ta_xdp_newcomers decides how it starts). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ta_xdp_bucket_key);
	__type(value, __u64);
} ta_xdp_buckets SEC(".maps");

/* Per rate-limit rule (by slot): the GCRA timestamp of the newcomer budget. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} ta_xdp_newcomers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct ta_xdp_syn_rule);
} ta_xdp_syn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ta_xdp_config);
} ta_xdp_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ta_xdp_heartbeat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct ta_xdp_rule_counters);
} ta_xdp_rule_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TA_XDP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ta_xdp_stats SEC(".maps");

static __always_inline void ta_xdp_stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&ta_xdp_stats, &idx);

	if (v)
		*v += 1;
}

/* The parser's loader at XDP: bpf_xdp_load_bytes() also reads the fragments of a multi-buffer
 * frame, which direct access cannot reach. */
static __always_inline int ta_parse_load(const struct ta_cursor *c, __u32 off, void *buf,
					 __u32 len)
{
	return bpf_xdp_load_bytes(c->ctx, off, buf, len);
}

/* What one frame carries into the verdict. */
struct ta_xdp_ctx {
	struct ta_packet pkt;
	__u64 now;        /* bpf_ktime_get_coarse_ns(): heartbeat and expiries (a tick is plenty) */
	__u64 bytes;      /* bpf_xdp_get_buff_len(): the frame, all buffers */
	__u8 has_ports;   /* a TCP header was parsed: dport and tcp_flags are valid */
	__u8 dry_run;     /* TA_XDP_CFG_DRY_RUN */
	__u8 pad[6];
};

static __always_inline __u64 ta_sat_add(__u64 a, __u64 b)
{
	return b > TA_U64_MAX - a ? TA_U64_MAX : a + b;
}

/*
 * One GCRA decision against *tat (ITU-T I.371 virtual scheduling): with tat' = max(tat, now) +
 * interval, the packet conforms when tat' - now <= tolerance, that is when the source is at most
 * `tolerance` ahead of its schedule once this packet is counted, and then tat becomes tat'. With
 * tolerance = burst * interval, `burst` packets conform back to back from a full bucket (tat <=
 * now) and one more every interval after that; a tolerance below one interval is taken as one
 * interval, so a rule always lets its rate through. An exceeding packet changes nothing.
 * Arithmetic saturates at 2^64 - 1 instead of wrapping (huge intervals are legal: a rule of one
 * packet per day).
 *
 * Returns 1 conform, 0 exceed, -1 when the word kept changing under us (TA_XDP_CAS_RETRIES).
 */
static __always_inline int ta_gcra(__u64 *tat, __u64 now, __u64 interval, __u64 tolerance)
{
	if (interval == 0)
		interval = 1;
	if (tolerance < interval)
		tolerance = interval;

#pragma unroll
	for (int i = 0; i < TA_XDP_CAS_RETRIES; i++) {
		__u64 old = *(volatile __u64 *)tat;
		__u64 base = old > now ? old : now;
		__u64 ahead = base - now;

		if (ahead > tolerance || interval > tolerance - ahead)
			return 0;
		if (__sync_val_compare_and_swap(tat, old, ta_sat_add(base, interval)) == old)
			return 1;
	}
	return -1;
}

/* The same decision on a word no other CPU can see yet (a bucket about to be inserted). */
static __always_inline int ta_gcra_local(__u64 *tat, __u64 now, __u64 interval, __u64 tolerance)
{
	__u64 base, ahead;

	if (interval == 0)
		interval = 1;
	if (tolerance < interval)
		tolerance = interval;
	base = *tat > now ? *tat : now;
	ahead = base - now;
	if (ahead > tolerance || interval > tolerance - ahead)
		return 0;
	*tat = ta_sat_add(base, interval);
	return 1;
}

/*
 * A source not in ta_xdp_buckets: one draw from the rule's newcomer budget decides how its
 * bucket starts (ta_abi.h, ta_xdp_newcomers): full (tat = now) within the budget, empty (tat =
 * now + tolerance, the first packet exceeds and one interval later the next conforms) beyond
 * it. Then the packet is judged against the new bucket and the bucket is inserted. If another
 * CPU inserted the same source meanwhile, its bucket wins and the packet is judged against it.
 */
static __always_inline int ta_bucket_new(const struct ta_xdp_rule *rule,
					 const struct ta_xdp_bucket_key *key,
					 const struct ta_xdp_config *cfg, __u64 now)
{
	__u32 slot = rule->slot;
	__u64 *budget = bpf_map_lookup_elem(&ta_xdp_newcomers, &slot);
	__u64 tat = now, *shared;
	bool full;
	int verdict;
	long err;

	/* No budget word (slot out of range) or a contended one counts as beyond the budget:
	 * every case where we cannot show the source is a welcome newcomer. */
	full = budget && ta_gcra(budget, now, cfg->newcomer_interval_ns,
				 cfg->newcomer_tolerance_ns) == 1;
	if (!full)
		tat = ta_sat_add(now, rule->tolerance_ns < rule->interval_ns ? rule->interval_ns
									: rule->tolerance_ns);
	verdict = ta_gcra_local(&tat, now, rule->interval_ns, rule->tolerance_ns);

	err = bpf_map_update_elem(&ta_xdp_buckets, key, &tat, BPF_NOEXIST);
	if (err == 0) {
		/* Counted only by the CPU whose bucket was stored: one source, one count. */
		ta_xdp_stat_inc(full ? TA_XDP_STAT_BUCKET_NEW : TA_XDP_STAT_BUCKET_NEW_EMPTY);
		return verdict;
	}
	if (err == -EEXIST) {
		/* Another CPU created it meanwhile (its draw from the budget counts, ours is
		 * spent: at most one per CPU racing on a new source). */
		shared = bpf_map_lookup_elem(&ta_xdp_buckets, key);
		if (shared)
			return ta_gcra(shared, now, rule->interval_ns, rule->tolerance_ns);
	}
	ta_xdp_stat_inc(TA_XDP_STAT_BUCKET_INSERT_FAILED);
	return 0;
}

/* RATE_LIMIT: 1 conform, 0 exceed (including the failures counted on the way). */
static __always_inline int ta_rate_limit(const struct ta_xdp_rule *rule, const struct ta_xdp_ctx *x,
					 const struct ta_xdp_config *cfg)
{
	struct ta_xdp_bucket_key key = {};
	__u64 *tat, now;
	int verdict;

	key.rule_id = rule->rule_id;
	key.family = x->pkt.family;
	__builtin_memcpy(key.addr, x->pkt.saddr, sizeof(key.addr));

	/* The token bucket needs the precise clock (an interval can be microseconds); the rest of
	 * the program makes do with the coarse one, which costs a load instead of a clock read. */
	now = bpf_ktime_get_ns();
	tat = bpf_map_lookup_elem(&ta_xdp_buckets, &key);
	if (tat)
		verdict = ta_gcra(tat, now, rule->interval_ns, rule->tolerance_ns);
	else
		verdict = ta_bucket_new(rule, &key, cfg, now);
	if (verdict < 0) {
		ta_xdp_stat_inc(TA_XDP_STAT_CAS_CONTENDED);
		return 0;
	}
	return verdict;
}

static __always_inline struct ta_xdp_rule_counters *ta_counters(__u32 slot)
{
	return bpf_map_lookup_elem(&ta_xdp_rule_counters, &slot);
}

/* The end of every judged path: a drop becomes PASS + "would drop" under dry run. */
static __always_inline int ta_verdict_drop(const struct ta_xdp_ctx *x, __u32 slot, bool rule_dry)
{
	struct ta_xdp_rule_counters *rc = ta_counters(slot);

	if (x->dry_run || rule_dry) {
		if (rc) {
			rc->would_drop_packets += 1;
			rc->would_drop_bytes += x->bytes;
		}
		ta_xdp_stat_inc(TA_XDP_STAT_WOULD_DROP);
		ta_xdp_stat_inc(TA_XDP_STAT_PASSED);
		return XDP_PASS;
	}
	if (rc) {
		rc->dropped_packets += 1;
		rc->dropped_bytes += x->bytes;
	}
	ta_xdp_stat_inc(TA_XDP_STAT_DROPPED);
	return XDP_DROP;
}

static __always_inline int ta_pass(void)
{
	ta_xdp_stat_inc(TA_XDP_STAT_PASSED);
	return XDP_PASS;
}

static __always_inline void ta_count_match(__u32 slot, __u64 bytes)
{
	struct ta_xdp_rule_counters *rc = ta_counters(slot);

	if (rc) {
		rc->matched_packets += 1;
		rc->matched_bytes += bytes;
	}
}

/* Expiry on CLOCK_MONOTONIC; 0 never expires. An entry expiring "now" is expired: the daemon's
 * Expire() uses <= too, so the two never disagree about the last nanosecond. */
static __always_inline bool ta_expired(__u64 expires_ns, __u64 now)
{
	return expires_ns != 0 && expires_ns <= now;
}

/* Longest-prefix lookups with the source as a full-length key. Separate functions per family
 * keep each key on the stack at its own size. */
static __always_inline struct ta_xdp_rule *ta_lookup_v4(void *trie, const struct ta_packet *pkt)
{
	struct ta_xdp_lpm_v4_key key = { .prefixlen = 32 };

	__builtin_memcpy(key.addr, pkt->saddr, 4);
	return bpf_map_lookup_elem(trie, &key);
}

static __always_inline struct ta_xdp_rule *ta_lookup_v6(void *trie, const struct ta_packet *pkt)
{
	struct ta_xdp_lpm_v6_key key = { .prefixlen = 128 };

	__builtin_memcpy(key.addr, pkt->saddr, 16);
	return bpf_map_lookup_elem(trie, &key);
}

/*
 * Steps 3 to 6 of the verdict order, for a frame whose source address is known. Without a
 * parsed TCP header (fragments, extension chains not walked, UDP, ICMP...) only source-wide
 * rules (port 0) apply and the SYN throttle does not.
 */
static __always_inline int ta_judge(struct ta_xdp_ctx *x, const struct ta_xdp_config *cfg)
{
	bool v6 = x->pkt.family == TA_AF_INET6;
	struct ta_xdp_rule *rule;
	struct ta_xdp_syn_rule *syn;
	__u32 port;

	__u32 populated = cfg->populated;

	/* 3. Allowlist: wins over everything below. An expired entry is ignored. Empty tables
	 * are not looked up (ta_xdp_config.populated). */
	rule = NULL;
	if (v6 && (populated & TA_XDP_HAS_ALLOW_V6))
		rule = ta_lookup_v6(&ta_xdp_allow_v6, &x->pkt);
	else if (!v6 && (populated & TA_XDP_HAS_ALLOW_V4))
		rule = ta_lookup_v4(&ta_xdp_allow_v4, &x->pkt);
	if (rule) {
		if (!ta_expired(rule->expires_ns, x->now)) {
			ta_count_match(rule->slot, x->bytes);
			ta_xdp_stat_inc(TA_XDP_STAT_ALLOWLISTED);
			return ta_pass();
		}
		ta_xdp_stat_inc(TA_XDP_STAT_EXPIRED);
	}

	/* 4. Blocklist: the longest prefix holding the source. */
	rule = NULL;
	if (v6 && (populated & TA_XDP_HAS_BLOCK_V6))
		rule = ta_lookup_v6(&ta_xdp_block_v6, &x->pkt);
	else if (!v6 && (populated & TA_XDP_HAS_BLOCK_V4))
		rule = ta_lookup_v4(&ta_xdp_block_v4, &x->pkt);
	if (rule) {
		if (ta_expired(rule->expires_ns, x->now)) {
			ta_xdp_stat_inc(TA_XDP_STAT_EXPIRED);
		} else if (rule->port == 0 || (x->has_ports && x->pkt.dport == rule->port)) {
			bool dry = rule->flags & TA_XDP_RULE_DRY_RUN;
			__u32 slot = rule->slot;

			ta_count_match(slot, x->bytes);
			if (rule->action == TA_XDP_ACT_RATE_LIMIT && ta_rate_limit(rule, x, cfg))
				return ta_pass();
			/* DROP, an exceeding RATE_LIMIT, or an action this program does not
			 * know (ALLOW in the blocklist is a loader bug: blocking is the
			 * conservative reading of a blocklist entry). */
			return ta_verdict_drop(x, slot, dry);
		}
	}

	/* 5. SYN admission throttle on the destination port: a SYN without ACK. */
	if (!(populated & TA_XDP_HAS_SYN) || !x->has_ports ||
	    (x->pkt.tcp_flags & (TA_TCP_SYN | TA_TCP_ACK)) != TA_TCP_SYN)
		return ta_pass();
	port = x->pkt.dport;
	syn = bpf_map_lookup_elem(&ta_xdp_syn, &port);
	if (!syn)
		return ta_pass();
	if (ta_expired(syn->expires_ns, x->now)) {
		ta_xdp_stat_inc(TA_XDP_STAT_EXPIRED);
		return ta_pass();
	}
	ta_count_match(syn->slot, x->bytes);
	{
		/* Error diffusion (ta_abi.h): credit += ppm, admit on reaching 1e6. 0 and 1e6
		 * need no shared word at all. */
		__u32 ppm = syn->admit_ppm;
		int admit = -1;

		if (ppm >= TA_XDP_PPM) {
			admit = 1;
		} else if (ppm == 0) {
			admit = 0;
		} else {
#pragma unroll
			for (int i = 0; i < TA_XDP_CAS_RETRIES; i++) {
				__u64 old = *(volatile __u64 *)&syn->credit;
				__u64 credit = old + ppm;
				int ok = credit >= TA_XDP_PPM;

				if (ok)
					credit -= TA_XDP_PPM;
				if (__sync_val_compare_and_swap(&syn->credit, old, credit) == old) {
					admit = ok;
					break;
				}
			}
			if (admit < 0) {
				ta_xdp_stat_inc(TA_XDP_STAT_CAS_CONTENDED);
				admit = 0;
			}
		}
		if (admit) {
			ta_xdp_stat_inc(TA_XDP_STAT_SYN_ADMITTED);
			return ta_pass();
		}
		ta_xdp_stat_inc(TA_XDP_STAT_SYN_DENIED);
		return ta_verdict_drop(x, syn->slot, syn->flags & TA_XDP_RULE_DRY_RUN);
	}
}

SEC("xdp")
int ta_xdp_enforce(struct xdp_md *ctx)
{
	struct ta_cursor c = {
		.ctx = ctx,
		.data = (void *)(long)ctx->data,
		.data_end = (void *)(long)ctx->data_end,
		.pkt_len = bpf_xdp_get_buff_len(ctx),
	};
	struct ta_xdp_config *cfg;
	struct ta_xdp_ctx x = {};
	__u32 zero = 0;
	__u64 *beat;
	int rc;

	ta_xdp_stat_inc(TA_XDP_STAT_PACKETS);

	/* 1. Fail open when the daemon stopped beating: a dead or hung daemon must not keep
	 * enforcing rules nobody expires. A heartbeat ahead of our clock (written just now on
	 * another CPU) is fresh. */
	cfg = bpf_map_lookup_elem(&ta_xdp_config, &zero);
	beat = bpf_map_lookup_elem(&ta_xdp_heartbeat, &zero);
	if (!cfg || !beat)
		goto fail_open;
	x.now = bpf_ktime_get_coarse_ns();
	{
		__u64 last = *(volatile __u64 *)beat;

		if (last == 0 || (x.now > last && x.now - last > cfg->heartbeat_timeout_ns))
			goto fail_open;
	}
	x.bytes = c.pkt_len;
	x.dry_run = cfg->flags & TA_XDP_CFG_DRY_RUN;

	/* 2. What the frame is; anything we cannot read is left to the stack. */
	rc = ta_parse_l2(&c, &x.pkt);
	if (rc != TA_PARSE_OK)
		goto malformed;
	if (x.pkt.ethertype == TA_ETH_P_IP) {
		rc = ta_parse_ipv4(&c, &x.pkt);
	} else if (x.pkt.ethertype == TA_ETH_P_IPV6) {
		rc = ta_parse_ipv6(&c, &x.pkt);
	} else {
		ta_xdp_stat_inc(TA_XDP_STAT_NOT_IP);
		return ta_pass();
	}
	switch (rc) {
	case TA_PARSE_OK:
		if (x.pkt.l4_proto == TA_IPPROTO_TCP) {
			if (ta_parse_tcp(&c, &x.pkt) != TA_PARSE_OK)
				goto malformed;
			x.has_ports = 1;
		}
		break;
	case TA_PARSE_FRAGMENT:
		ta_xdp_stat_inc(TA_XDP_STAT_FRAGMENTS);
		break;
	case TA_PARSE_EXT_UNSUPPORTED:
		ta_xdp_stat_inc(TA_XDP_STAT_IPV6_EXT_UNSUPPORTED);
		break;
	default:
		goto malformed;
	}
	return ta_judge(&x, cfg);

malformed:
	ta_xdp_stat_inc(TA_XDP_STAT_MALFORMED);
	return ta_pass();
fail_open:
	ta_xdp_stat_inc(TA_XDP_STAT_FAIL_OPEN);
	return ta_pass();
}
