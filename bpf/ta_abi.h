/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ta_abi.h - the kernel/user contract of traffic-analyzer.
 *
 * Every struct that crosses the ring buffer or lives in a map that userspace reads or writes is
 * declared here, once, with fixed-width types and explicit padding, so the BPF side (clang
 * -target bpf, vmlinux.h) and the C++ side (linux/types.h) agree byte for byte. The C++ side
 * checks the layout with static_assert (agent/bpf_events.h); never redeclare these by hand.
 *
 * Changing a struct here is an ABI change between the BPF object and the daemon built from the
 * same tree; they always ship together, so there is no versioning beyond TA_ABI_VERSION, which
 * the daemon checks against the value baked into the object's .rodata.
 */
#ifndef TA_ABI_H
#define TA_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TA_ABI_VERSION 4

/* Largest snaplen the datapath supports; config.snaplen must be <= this. A payload event
 * carries at most snaplen bytes of the payload: all of it when it fits, otherwise the first
 * snaplen - snaplen_tail bytes and the last snaplen_tail bytes (see struct ta_payload_event).
 * The bytes in between are still accounted for in sequence space (payload_len), so parsers
 * can skip them without losing framing. */
#define TA_MAX_SNAPLEN 4096

/* IPv6 extension headers the parsers walk before giving up (TA_STAT_IPV6_EXT_UNSUPPORTED).
 * RFC 8200 section 4.1 recommends at most hop-by-hop, destination options, routing, fragment,
 * AH and a second destination options header before the upper layer: six. Shared by
 * bpf/parse.bpf.h and analyzer/capture/packet_decoder.cc. */
#define TA_IPV6_MAX_EXT_HDRS 6

/* Address families as the kernel numbers them (AF_INET, AF_INET6). */
#define TA_AF_INET 2
#define TA_AF_INET6 10

enum ta_event_kind {
	TA_EV_CONN_OPEN = 1,  /* first packet of a flow seen (SYN, or payload mid-stream) */
	TA_EV_CONN_CLOSE = 2, /* RST, or FIN seen from both sides */
	TA_EV_PAYLOAD = 3,    /* one skb's worth of TCP payload on a watched flow */
	TA_EV_CONN_ESTABLISHED = 4, /* three-way handshake completed (client's first ACK after
				     * the server's SYN-ACK); at most once per connection */
	/* reserved for later programs: TLS plaintext (uprobes), XDP verdicts */
};

/* Direction relative to the service: the server side of a flow is the watched port. */
enum ta_direction {
	TA_DIR_CLIENT_TO_SERVER = 0, /* requests */
	TA_DIR_SERVER_TO_CLIENT = 1, /* responses */
};

/* Where the tc program saw the packet. */
enum ta_tc_point {
	TA_TC_INGRESS = 0,
	TA_TC_EGRESS = 1,
};

/* Canonical, direction-independent flow key: both directions of a connection map to the same
 * key. IPv4 addresses occupy the first 4 bytes of the 16-byte fields, the rest is zero.
 * Ports are in host byte order. */
struct ta_flow_key {
	__u8 client_addr[16];
	__u8 server_addr[16];
	__u16 client_port;
	__u16 server_port;
	__u8 family; /* TA_AF_INET or TA_AF_INET6 */
	__u8 pad[3];
};

/* Common prefix of every ring buffer record. */
struct ta_event_header {
	__u64 ts_ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 ifindex; /* interface the packet was seen on */
	__u8 kind;     /* enum ta_event_kind */
	__u8 dir;      /* enum ta_direction */
	__u8 tc_point; /* enum ta_tc_point */
	__u8 pad;
};

/* ta_conn_event.flags and ta_conn_state.flags */
#define TA_CONN_F_SYN_SEEN (1u << 0)    /* the flow started with a SYN we saw */
#define TA_CONN_F_MID_STREAM (1u << 1)  /* first seen with payload, no SYN: joined mid-way */
#define TA_CONN_F_RESET (1u << 2)       /* closed by RST */
#define TA_CONN_F_FIN_C2S (1u << 3)     /* client sent FIN */
#define TA_CONN_F_FIN_S2C (1u << 4)     /* server sent FIN */

/* TA_EV_CONN_OPEN, TA_EV_CONN_ESTABLISHED and TA_EV_CONN_CLOSE: one record layout for the
 * three. Counters are totals for the flow at the time of the event (for an open event, only the
 * packet that opened it). The handshake timestamps are 0 until seen; an established event has
 * all three, with hdr.ts_ns == ack_ns and hdr.dir == TA_DIR_CLIENT_TO_SERVER. */
struct ta_conn_event {
	struct ta_event_header hdr;
	struct ta_flow_key key;
	__u64 first_seen_ns;
	__u64 bytes[2];       /* payload bytes, indexed by enum ta_direction */
	__u64 packets[2];     /* packets, indexed by enum ta_direction */
	__u64 retransmits[2]; /* segments whose sequence range was seen before (ta_conn_state) */
	__u64 syn_ns;         /* client SYN */
	__u64 synack_ns;      /* server SYN-ACK */
	__u64 ack_ns;         /* client ACK completing the handshake */
	__u32 flags;          /* TA_CONN_F_* */
	__u32 pad;
};

/* TA_EV_PAYLOAD: fixed part, followed by cap_len bytes from the start of the payload (the
 * head) and then tail_len bytes from its end (the tail) in data[]. A payload of at most
 * snaplen bytes is captured whole (tail_len 0). A longer one (a GSO/TSO super-segment is up
 * to 64 KiB) keeps its first snaplen - snaplen_tail and its last snaplen_tail bytes: what a
 * message ends with (gRPC trailers, HTTP/2 frame headers after a long DATA frame, the
 * chunked last-chunk) often lies at the end of a long write, and a parser that knows a body
 * length skips the middle exactly and lands in the tail. The middle,
 * payload_len - cap_len - tail_len bytes, is a gap of known length. The record is reserved in
 * a size class >= sizeof(struct ta_payload_event) + cap_len + tail_len, so consumers must use
 * the two lengths, never the record size, to find the end of the data. */
struct ta_payload_event {
	struct ta_event_header hdr;
	struct ta_flow_key key;
	__u32 seq;         /* TCP sequence number of the first payload byte */
	__u32 payload_len; /* payload bytes in this skb (may exceed cap_len; GSO may exceed MSS) */
	__u16 cap_len;     /* head bytes at data[0] */
	__u16 tail_len;    /* tail bytes at data[cap_len]: the last tail_len bytes of the payload;
			    * 0 when the payload was captured whole or the tail (or the head)
			    * could not be loaded (TA_STAT_PAYLOAD_LOAD_FAILED) */
	__u8 tcp_flags;    /* raw TCP flags byte (FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10) */
	__u8 pad[3];
#if defined(__cplusplus)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic" /* flexible array members are C99, not ISO C++ */
#endif
	__u8 data[];
#if defined(__cplusplus)
#pragma GCC diagnostic pop
#endif
};

/*
 * Sequence space seen in one direction of a connection, for retransmission counting. A segment
 * occupies [seq, seq + payload + SYN + FIN) (RFC 9293 section 3.4: SYN and FIN take one
 * sequence number each); all comparisons are RFC 1982 serial arithmetic, so they survive the
 * wrap at 2^32 (valid while a flow's window of interest spans less than 2^31 bytes).
 *
 * `end` is one past the highest sequence number seen. A segment that starts before `end`
 * covers sequence space seen before, entirely or in part, and counts as a retransmission,
 * unless all of that part lies inside the tracked hole: the most recent gap, [hole_start,
 * hole_end), left when a segment arrived beyond `end` (reordering or loss before the capture
 * point). A segment filling the hole is a first sighting here, an "out-of-order" segment in
 * Wireshark's terms, not a retransmission; the hole shrinks by what it covers. That includes
 * the sender's retransmission of a segment lost before the capture point: it is the first copy
 * seen here, so counts measure what crossed the capture point twice (loss or spurious
 * retransmission after it), not all of the sender's retransmissions. Only one hole
 * is tracked: when a second gap opens before the first is filled, the newer one replaces it,
 * and a later fill of the older gap counts as a retransmission (overcount); a segment filling
 * the middle of the hole keeps the lower part, so a later fill of the upper part counts too.
 */
struct ta_seq_track {
	__u32 end;
	__u32 hole_start; /* hole_start == hole_end: no hole */
	__u32 hole_end;
	__u32 seen;       /* 1 once a segment occupying sequence space was seen */
};

/* Per-connection state in the LRU hash `ta_conns`, keyed by struct ta_flow_key. */
struct ta_conn_state {
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u64 bytes[2];
	__u64 packets[2];
	__u64 retransmits[2]; /* per direction, see struct ta_seq_track */
	__u64 syn_ns;     /* client SYN timestamp, 0 if not seen */
	__u64 synack_ns;  /* server SYN-ACK timestamp, 0 if not seen */
	__u64 ack_ns;     /* client ACK completing the handshake, 0 until TA_EV_CONN_ESTABLISHED */
	__u32 flags;      /* TA_CONN_F_* */
	__u32 client_isn; /* sequence number of the client SYN (valid with TA_CONN_F_SYN_SEEN): a
			   * SYN with another ISN on the same key is a new connection reusing
			   * the 4-tuple, so the stale entry is closed and replaced; a SYN with
			   * the same ISN is a retransmission */
	struct ta_seq_track seq[2]; /* indexed by enum ta_direction */
};

/* The set of watched ports: a 65536-bit bitmap in a single-entry array map `ta_ports`, so the
 * datapath pays one map lookup and a bit test whatever the number of ports. */
struct ta_port_set {
	__u64 bits[65536 / 64];
};

/* Per-CPU counters in the array map `ta_stats`, indexed by enum ta_stat. Userspace sums over
 * CPUs. Every place the datapath can lose or skip something has a counter here. */
enum ta_stat {
	TA_STAT_PACKETS = 0,             /* TCP packets on a watched port */
	TA_STAT_PAYLOAD_EVENTS,          /* payload events submitted */
	TA_STAT_CONN_EVENTS,             /* open/established/close events submitted */
	TA_STAT_RINGBUF_DROP_PAYLOAD,    /* ring buffer reserve failed for a payload event */
	TA_STAT_RINGBUF_DROP_CONN,       /* ring buffer reserve failed for an open/established/
					  * close event */
	TA_STAT_CONN_UPDATE_FAILED,      /* conn table insert failed (or the handshake claim
					  * insert: the established event is then lost) */
	TA_STAT_MALFORMED,               /* truncated or malformed L2/L3/L4 headers */
	TA_STAT_IPV6_EXT_UNSUPPORTED,    /* IPv6 extension chain we do not walk (ESP, too deep) */
	TA_STAT_FRAGMENTS,               /* IPv4/IPv6 fragments of any protocol (not reassembled;
					  * skipped); IPv6 atomic fragments are whole packets */
	TA_STAT_PAYLOAD_LOAD_FAILED,     /* bpf_skb_load_bytes failed on the payload head (event
					  * sent with cap_len 0) or tail (tail_len 0) */
	TA_STAT_MAX,
};

/*
 * TLS plaintext (bpf/ssl_uprobes.bpf.c, agent/tls_probes.h, docs/tls.md). A separate BPF
 * object with its own ring buffer, maps and counters; records start with struct
 * ta_event_header (ifindex 0, dir and tc_point unused, 0) so one consumer can tell the kinds
 * apart.
 */
#define TA_EV_TLS_DATA 5  /* struct ta_tls_event: one SSL_read/SSL_write call's plaintext */
#define TA_EV_PROC_EXEC 6 /* struct ta_proc_event: a process called execve() */
#define TA_EV_PROC_TLS 7  /* struct ta_proc_event: a process's first hooked SSL call (a
			   * forked worker, say, that no exec announced) */

#define TA_TLS_OP_READ 0  /* SSL_read / SSL_read_ex: bytes the peer sent */
#define TA_TLS_OP_WRITE 1 /* SSL_write / SSL_write_ex: bytes this process sent */

/* ta_tls_event.flags */
#define TA_TLS_F_UNMAPPED (1u << 0) /* no socket was ever seen under this SSL object: the
				     * address fields are zero (TA_TLS_STAT_UNMAPPED) */
#define TA_TLS_F_EX (1u << 1)       /* SSL_read_ex / SSL_write_ex */

/* TA_EV_TLS_DATA: fixed part, then cap_len plaintext bytes (the first min(len, snaplen) bytes
 * the call returned) in data[]. Reserved in a size class like ta_payload_event: use cap_len,
 * never the record size. Addresses as in ta_flow_key (IPv4 in the first 4 bytes, network
 * order; an IPv4-mapped IPv6 socket is reported as TA_AF_INET); ports in host order. */
struct ta_tls_event {
	struct ta_event_header hdr;
	__u32 pid;           /* thread id */
	__u32 tgid;          /* process id */
	__u64 ssl;           /* the SSL object's address in the process: the session's identity */
	__u64 start_ns;      /* when the call was entered (hdr.ts_ns: when it returned) */
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u8 family;         /* TA_AF_INET, TA_AF_INET6, 0 when unmapped */
	__u8 op;             /* TA_TLS_OP_* */
	__u16 flags;         /* TA_TLS_F_* */
	__u32 len;           /* plaintext bytes the call read or wrote */
	__u32 cap_len;       /* bytes in data[] */
#if defined(__cplusplus)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
	__u8 data[];
#if defined(__cplusplus)
#pragma GCC diagnostic pop
#endif
};

/* TA_EV_PROC_EXEC, TA_EV_PROC_TLS: tell the loader which processes to look at (new TLS
 * libraries to hook, coverage to report). */
struct ta_proc_event {
	struct ta_event_header hdr;
	__u32 tgid;
	__u32 pad;
	char comm[16];
};

/* Per-CPU counters of ssl_uprobes.bpf.c in its array map `ta_tls_stats`. */
enum ta_tls_stat {
	TA_TLS_STAT_RECORDS = 0,     /* TA_EV_TLS_DATA records submitted */
	TA_TLS_STAT_RINGBUF_DROP,    /* ring buffer reserve failed: a call's record lost */
	TA_TLS_STAT_READ_FAILED,     /* bpf_probe_read_user of the plaintext (or of the _ex byte
				      * count) failed: record sent with cap_len 0 (or lost) */
	TA_TLS_STAT_UNMAPPED,        /* calls on an SSL object never seen in a socket syscall */
	TA_TLS_STAT_CALLS_LOST,      /* entry state could not be stored (table full) */
	TA_TLS_STAT_EXEC_DROP,       /* ring buffer reserve failed for an exec record */
	TA_TLS_STAT_MAX,
};

/* ---- XDP enforcement: xdp_enforce.bpf.c ------------------------------------------------------
 *
 * One program, attached at XDP on the enforcement interfaces, decides each ingress frame:
 *
 *   1. heartbeat stale (daemon dead or hung)    -> PASS, TA_XDP_STAT_FAIL_OPEN
 *   2. not IPv4/IPv6, malformed, truncated      -> PASS, counted by kind (the stack judges it)
 *   3. source in the allowlist (unexpired)      -> PASS, rule counters "matched"
 *   4. source in the blocklist (longest prefix) -> the rule's action if it applies: its port is 0
 *      (every packet of the source, any protocol, fragments too) or the packet is TCP to that
 *      port; an expired entry is skipped (TA_XDP_STAT_EXPIRED) as if absent.
 *        DROP        -> DROP
 *        RATE_LIMIT  -> GCRA per (rule, source): conform PASS, exceed DROP
 *   5. TCP SYN (no ACK) to a port in ta_xdp_syn   -> admit or deny by the port's admit ratio
 *   6. otherwise                                  -> PASS
 * A drop becomes PASS + "would drop" when TA_XDP_CFG_DRY_RUN is set globally or
 * TA_XDP_RULE_DRY_RUN on the rule.
 *
 * Times are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns()); userspace converts wall-clock
 * expiries before writing them. Ports are host byte order. Addresses as in ta_flow_key: IPv4
 * in the first 4 bytes.
 */

/* The program's section function name: how the daemon recognises its own program left
 * attached by a daemon that was killed (and replaces it) versus someone else's (refused). */
#define TA_XDP_PROG_NAME "ta_xdp_enforce"

enum ta_xdp_action {
	TA_XDP_ACT_DROP = 0,
	TA_XDP_ACT_RATE_LIMIT = 1,
	TA_XDP_ACT_ALLOW = 2, /* only in the allowlist maps */
};

#define TA_XDP_RULE_DRY_RUN 0x01 /* struct ta_xdp_rule.flags, struct ta_xdp_syn_rule.flags */

/* Keys of the four LPM tries ta_xdp_{allow,block}_v{4,6}; prefixlen in bits. */
struct ta_xdp_lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};
struct ta_xdp_lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Value of the LPM tries. One entry per prefix: a second rule on the same prefix replaces the
 * first (the rule manager refuses that instead). */
struct ta_xdp_rule {
	__u64 expires_ns;   /* CLOCK_MONOTONIC; 0 = never */
	__u64 interval_ns;  /* RATE_LIMIT: GCRA emission interval, 1e9 / rate, >= 1 */
	__u64 tolerance_ns; /* RATE_LIMIT: burst * interval_ns (a source may be this far ahead) */
	__u32 rule_id;      /* unique while the daemon lives: part of the bucket key */
	__u32 slot;         /* index into ta_xdp_rule_counters / ta_xdp_newcomers */
	__u16 port;         /* destination port; 0 = every packet of the source */
	__u8 action;        /* enum ta_xdp_action */
	__u8 flags;         /* TA_XDP_RULE_DRY_RUN */
	__u32 pad;
};

/* LRU hash ta_xdp_buckets: one GCRA "theoretical arrival time" per (rule, source), a single
 * __u64 updated with compare-and-swap so concurrent CPUs never lose an update.
 * GCRA (ITU-T I.371) is the token bucket stated as one timestamp: a packet at t conforms when
 * max(tat, t) + interval - t <= tolerance, and then tat' = max(tat, t) + interval; with
 * tolerance = burst * interval exactly `burst` packets pass in one instant (a burst of 0 is
 * taken as 1, so a rule always lets its rate through). */
struct ta_xdp_bucket_key {
	__u32 rule_id;
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

/* Array ta_xdp_newcomers, indexed by slot: one GCRA per rate-limit rule that admits sources
 * not (or no longer) in ta_xdp_buckets at ta_xdp_config's newcomer rate. A newcomer within
 * that budget starts with a full bucket (as nginx limit_req does); beyond it (a spoofed flood,
 * or a table churning because it is full) the source starts with an EMPTY bucket and its first
 * packet is dropped: a real client's retransmission conforms one interval later, random
 * spoofed sources never earn anything. */

/* Hash ta_xdp_syn, key __u32 port (host order): SYN admission throttle. Admission is error
 * diffusion, not random: credit += admit_ppm per SYN, admit when it reaches 1e6 (then subtract
 * 1e6), via compare-and-swap; exactly floor(n * ppm / 1e6) of n SYNs pass, on any CPU mix. */
struct ta_xdp_syn_rule {
	__u64 credit;
	__u64 expires_ns; /* 0 = never */
	__u32 admit_ppm;  /* 0 .. 1000000 */
	__u32 slot;
	__u8 flags;       /* TA_XDP_RULE_DRY_RUN */
	__u8 pad[7];
};
#define TA_XDP_PPM 1000000u

/* Array ta_xdp_config, one entry, written by the daemon before attaching. */
#define TA_XDP_CFG_DRY_RUN 0x01
struct ta_xdp_config {
	__u64 heartbeat_timeout_ns;  /* heartbeat older than this: fail open */
	__u64 newcomer_interval_ns;  /* 1e9 / new sources per second per rule */
	__u64 newcomer_tolerance_ns; /* burst of new sources, as a time */
	__u32 flags;                 /* TA_XDP_CFG_DRY_RUN */
	__u32 populated;             /* TA_XDP_HAS_*: which tables hold entries at all */
};
/* ta_xdp_config.populated: the loader sets a bit after the first entry of a table is in and
 * clears it after the last is gone, so the program skips lookups in empty tables (most nodes
 * have no allowlist, many no IPv6 rules). A frame racing with the change is judged as if the
 * entry were not there yet, or no longer. */
#define TA_XDP_HAS_ALLOW_V4 0x01
#define TA_XDP_HAS_ALLOW_V6 0x02
#define TA_XDP_HAS_BLOCK_V4 0x04
#define TA_XDP_HAS_BLOCK_V6 0x08
#define TA_XDP_HAS_SYN 0x10
/* Array ta_xdp_heartbeat, one __u64: the daemon's last CLOCK_MONOTONIC beat. 0 (never written)
 * counts as stale. */

/* Per-CPU array ta_xdp_rule_counters, indexed by slot; userspace sums CPUs and zeroes a slot
 * before reusing it. Bytes are the frame's length at XDP (bpf_xdp_get_buff_len). */
struct ta_xdp_rule_counters {
	__u64 matched_packets;
	__u64 matched_bytes;
	__u64 dropped_packets;
	__u64 dropped_bytes;
	__u64 would_drop_packets; /* dry run */
	__u64 would_drop_bytes;
};

/* Per-CPU array ta_xdp_stats, indexed by enum ta_xdp_stat. */
enum ta_xdp_stat {
	TA_XDP_STAT_PACKETS = 0,       /* frames seen */
	TA_XDP_STAT_PASSED,            /* XDP_PASS returned (any reason) */
	TA_XDP_STAT_DROPPED,           /* XDP_DROP returned */
	TA_XDP_STAT_WOULD_DROP,        /* dry run: would have dropped */
	TA_XDP_STAT_FAIL_OPEN,         /* heartbeat stale or never written: passed unjudged */
	TA_XDP_STAT_NOT_IP,            /* ARP, LLDP, a third VLAN tag, ...: passed */
	TA_XDP_STAT_MALFORMED,         /* truncated or inconsistent L2/L3/L4: passed */
	TA_XDP_STAT_FRAGMENTS,         /* IP fragments (only source-wide rules apply) */
	TA_XDP_STAT_IPV6_EXT_UNSUPPORTED, /* extension chain not walked (only source-wide rules) */
	TA_XDP_STAT_ALLOWLISTED,       /* passed by the allowlist */
	TA_XDP_STAT_EXPIRED,           /* matched an entry past its expiry: ignored */
	TA_XDP_STAT_BUCKET_NEW,        /* new source within the newcomer budget: full bucket */
	TA_XDP_STAT_BUCKET_NEW_EMPTY,  /* new source beyond the budget: empty bucket */
	TA_XDP_STAT_BUCKET_INSERT_FAILED, /* bucket could not be stored: judged as exceeding */
	TA_XDP_STAT_CAS_CONTENDED,     /* compare-and-swap retries exhausted: judged as exceeding */
	TA_XDP_STAT_SYN_ADMITTED,
	TA_XDP_STAT_SYN_DENIED,
	TA_XDP_STAT_MAX,
};

#endif /* TA_ABI_H */
