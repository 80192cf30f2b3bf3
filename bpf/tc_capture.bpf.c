// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tc_capture.bpf.c - passive TCP observer on a tc clsact hook.
 *
 * Two entry points share one body: ta_tc_ingress for the clsact ingress hook and ta_tc_egress
 * for egress. The body has to know which hook it runs on (the event says where a packet was
 * seen) and a tc program cannot ask; a compile-time constant per entry point costs nothing,
 * where a map or .rodata flag would need two loaded copies of the object.
 *
 * For every TCP packet to or from a watched port it keeps per-connection state in the LRU
 * hash ta_conns and emits ring buffer records: a connection open, one record per packet
 * carrying payload (up to `snaplen` payload bytes: the first ones, and of a longer payload also
 * the last `snaplen_tail`), and a connection close. The event format and every map's layout
 * are in ta_abi.h. Anything else (ARP, UDP, other ports) leaves after the cheapest test that
 * can tell.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "ta_abi.h"
#include "parse.bpf.h"
#include "flow.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Every path returns TC_ACT_UNSPEC. This program observes; it must never change a packet's fate.
 * TC_ACT_OK would be wrong too: in a clsact hook with several filters, a direct-action filter
 * returning TC_ACT_OK (0) ends classification, so filters after ours would never run (a
 * firewall or a Cilium-style datapath attached after us would be bypassed). TC_ACT_UNSPEC (-1)
 * means "no opinion": the next filter runs, and at the end of the chain the default applies.
 * With tcx links (6.6) the same value is TCX_NEXT. (pkt_cls.h is a uapi header of #defines,
 * which vmlinux.h cannot carry.)
 */
#define TC_ACT_UNSPEC (-1)

#ifndef EEXIST
#define EEXIST 17
#endif

/*
 * Set by the loader before load (libbpf freezes .rodata, and the verifier then treats these as
 * constants, so size classes above snaplen are pruned as dead code).
 * snaplen: payload bytes copied per event, clamped to TA_MAX_SNAPLEN here as well.
 * snaplen_tail: of a payload longer than snaplen, how many of the snaplen bytes come from its
 *   end rather than its start (struct ta_payload_event); 0, or a value >= snaplen, copies
 *   the head only.
 * abi_version: read back by the daemon to refuse an object built from another ta_abi.h.
 */
const volatile __u32 snaplen = 1024;
const volatile __u32 snaplen_tail = 256;
const volatile __u32 abi_version = TA_ABI_VERSION;

/* max_entries is set from config before load (bpf_map__set_max_entries); must be a power of
 * two multiple of the page size. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} ta_events SEC(".maps");

/* Per-connection state. LRU so that connections whose close we never see (agent started late,
 * lost FIN, eviction) age out by themselves instead of filling the table; max_entries is set
 * from config before load. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ta_flow_key);
	__type(value, struct ta_conn_state);
} ta_conns SEC(".maps");

/*
 * Handshake claims: makes TA_EV_CONN_ESTABLISHED exactly-once without an atomic that returns a
 * value. Both a pure ACK and the first data segment can complete a handshake (the pure ACK may
 * be lost), and at tc ingress a client's packets can be processed on two CPUs at once (veth and
 * RPS-less backlog queues are per sending CPU), so "ack_ns still 0" may be seen by two CPUs.
 * A compare-and-swap on ack_ns would settle it, but BPF_CMPXCHG and fetching atomics arrived in
 * 5.12 and the program targets 5.8. A hash insert with BPF_NOEXIST is atomic per key (bucket
 * lock) on every kernel: the CPU whose insert succeeds re-reads ack_ns, stores it if still 0,
 * reports, and deletes the claim. A CPU that read the old ack_ns but inserts after that delete
 * re-reads the stored value (the bucket lock orders the store before its insert) and stays
 * quiet. A claim lives for one program run, and a CPU holds at most one at a time (tc runs with
 * bottom halves disabled and does not nest), so the table never holds more entries than CPUs.
 * Plain (not LRU) hash: an LRU could evict a live claim. If the insert fails for lack of room
 * the event is lost and counted in TA_STAT_CONN_UPDATE_FAILED.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct ta_flow_key);
	__type(value, __u32);
} ta_handshakes SEC(".maps");

/* Watched ports, entry 0; written by userspace, may change at run time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ta_port_set);
} ta_ports SEC(".maps");

/* Per-CPU counters indexed by enum ta_stat: no atomics, userspace sums over CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TA_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ta_stats SEC(".maps");

static __always_inline void ta_stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&ta_stats, &idx);

	/* Per-CPU slot, and tc runs with bottom halves disabled, so two runs on one CPU
	 * never interleave: a plain add. */
	if (v)
		*v += 1;
}

/* What one packet contributes, gathered once and passed down by pointer. */
struct ta_ctx {
	struct ta_flow_key key;
	struct ta_packet pkt;
	__u64 now;
	__u32 ifindex;
	__u8 dir;
	__u8 point;
};

static __always_inline void ta_fill_header(struct ta_event_header *h, const struct ta_ctx *x,
					   __u8 kind)
{
	h->ts_ns = x->now;
	h->ifindex = x->ifindex;
	h->kind = kind;
	h->dir = x->dir;
	h->tc_point = x->point;
	h->pad = 0;
}

static __always_inline void ta_emit_conn(const struct ta_ctx *x, __u8 kind,
					 const struct ta_conn_state *st, __u32 flags)
{
	struct ta_conn_event *e = bpf_ringbuf_reserve(&ta_events, sizeof(*e), 0);

	if (!e) {
		ta_stat_inc(TA_STAT_RINGBUF_DROP_CONN);
		return;
	}
	ta_fill_header(&e->hdr, x, kind);
	__builtin_memcpy(&e->key, &x->key, sizeof(e->key));
	e->first_seen_ns = st->first_seen_ns;
	e->bytes[0] = st->bytes[0];
	e->bytes[1] = st->bytes[1];
	e->packets[0] = st->packets[0];
	e->packets[1] = st->packets[1];
	e->retransmits[0] = st->retransmits[0];
	e->retransmits[1] = st->retransmits[1];
	e->syn_ns = st->syn_ns;
	e->synack_ns = st->synack_ns;
	e->ack_ns = st->ack_ns;
	e->flags = flags;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	ta_stat_inc(TA_STAT_CONN_EVENTS);
}

/* The clamped .rodata settings. Both are constants to the verifier (frozen .rodata), so every
 * bound derived from them below is exact and the size classes they rule out are dead code. */
static __always_inline __u32 ta_snaplen(void)
{
	__u32 limit = snaplen;

	return limit > TA_MAX_SNAPLEN ? TA_MAX_SNAPLEN : limit;
}

static __always_inline __u32 ta_snaplen_tail(void)
{
	__u32 tail = snaplen_tail;

	return tail >= ta_snaplen() ? 0 : tail;
}

/*
 * One payload record in a fixed size class. bpf_ringbuf_reserve() needs a size the verifier
 * knows, so records come in classes and the caller picks the smallest that holds head + tail
 * bytes; consumers read cap_len and tail_len, never the record size. bpf_skb_load_bytes() (not
 * direct packet access) copies the payload because it walks skb fragments: GSO packets on veth
 * and TSO egress carry most of their payload outside the linear area, where the tail of a
 * super-segment lies.
 */
static __always_inline void ta_emit_payload_class(struct __sk_buff *skb, const struct ta_ctx *x,
						  __u32 cap, bool with_tail,
						  const __u32 class_size)
{
	struct ta_payload_event *e;
	__u32 tail_len = 0;

	e = bpf_ringbuf_reserve(&ta_events, sizeof(*e) + class_size, 0);
	if (!e) {
		ta_stat_inc(TA_STAT_RINGBUF_DROP_PAYLOAD);
		return;
	}
	ta_fill_header(&e->hdr, x, TA_EV_PAYLOAD);
	__builtin_memcpy(&e->key, &x->key, sizeof(e->key));
	/* A SYN occupies one sequence number before the first data byte (TCP Fast Open). */
	e->seq = x->pkt.seq + ((x->pkt.tcp_flags & TA_TCP_SYN) ? 1 : 0);
	e->payload_len = x->pkt.payload_len;
	e->tcp_flags = x->pkt.tcp_flags;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	if (class_size && cap) {
		/* Restate the bound in the register the helper gets: the verifier must see
		 * 0 < cap <= class_size, but clang knows the caller already tested it, drops
		 * the test and merges the classes. The empty asm hides what clang knows;
		 * 64 bits so that no zero-extension copy separates the register the
		 * verifier bounds from the one passed to the helper. */
		__u64 n = cap;

		asm volatile("" : "+r"(n));
		if (n > class_size)
			n = class_size;
		cap = n;
		if (bpf_skb_load_bytes(skb, x->pkt.payload_off, e->data, n) < 0) {
			/* Still send seq and length: the analyzer sees a gap of known size
			 * instead of losing the segment from sequence space. */
			ta_stat_inc(TA_STAT_PAYLOAD_LOAD_FAILED);
			cap = 0;
			with_tail = false; /* all of it a gap: one failure, counted once */
		}
	} else {
		cap = 0;
		with_tail = false;
	}
	if (with_tail) {
		/* The tail goes right after the head: data[cap, cap + t). t is a verifier
		 * constant, so bounding the offset by class_size - t (a constant too) proves
		 * the copy stays in the record, which two independently bounded registers
		 * could not. The caller's head is snaplen - t <= class_size - t, so the
		 * bound never bites; the asm keeps clang from dropping it, as above. */
		const __u32 t = ta_snaplen_tail();
		__u64 off = cap;

		asm volatile("" : "+r"(off));
		if (t && t < class_size) {
			if (off > class_size - t)
				off = class_size - t;
			if (bpf_skb_load_bytes(skb, x->pkt.payload_off + x->pkt.payload_len - t,
					       e->data + off, t) < 0) {
				/* The tail joins the gap; the head is still good. */
				ta_stat_inc(TA_STAT_PAYLOAD_LOAD_FAILED);
			} else {
				tail_len = t;
			}
		}
	}
	e->cap_len = cap;
	e->tail_len = tail_len;
	bpf_ringbuf_submit(e, 0);
	ta_stat_inc(TA_STAT_PAYLOAD_EVENTS);
}

static __always_inline void ta_emit_payload(struct __sk_buff *skb, const struct ta_ctx *x)
{
	__u32 limit = ta_snaplen();
	__u32 cap = x->pkt.payload_len;
	bool with_tail = false;

	/* Longer than snaplen: the first snaplen - tail and the last tail bytes, snaplen in
	 * all, so the size classes below hold head and tail together. */
	if (cap > limit) {
		cap = limit - ta_snaplen_tail();
		with_tail = ta_snaplen_tail() != 0;
	}

	/* Size classes: small requests and ACK-sized data fit the first ones, a full
	 * MSS with the default snaplen the 1024 class; the largest is TA_MAX_SNAPLEN.
	 * The class holds cap head bytes and, with a tail, snaplen in all. */
	{
		__u32 total = with_tail ? limit : cap;

		if (total == 0)
			ta_emit_payload_class(skb, x, cap, with_tail, 0);
		else if (total <= 64)
			ta_emit_payload_class(skb, x, cap, with_tail, 64);
		else if (total <= 256)
			ta_emit_payload_class(skb, x, cap, with_tail, 256);
		else if (total <= 512)
			ta_emit_payload_class(skb, x, cap, with_tail, 512);
		else if (total <= 1024)
			ta_emit_payload_class(skb, x, cap, with_tail, 1024);
		else if (total <= 2048)
			ta_emit_payload_class(skb, x, cap, with_tail, 2048);
		else
			ta_emit_payload_class(skb, x, cap, with_tail, TA_MAX_SNAPLEN);
	}
}

/*
 * Ends a connection: delete the entry, and only if this CPU's delete succeeded report it. The
 * two sides' FINs (or RSTs) can be processed on two CPUs at once, both may decide the flow is
 * over, and exactly one delete wins; that keeps close events exactly-once without locks.
 */
static __always_inline void ta_close(const struct ta_ctx *x, const struct ta_conn_state *conn,
				     __u32 extra_flags)
{
	struct ta_conn_state snap = *conn;

	if (bpf_map_delete_elem(&ta_conns, &x->key) == 0)
		ta_emit_conn(x, TA_EV_CONN_CLOSE, &snap, snap.flags | extra_flags);
}

/* RFC 1982 serial number comparison on 32-bit TCP sequence numbers. */
static __always_inline bool ta_seq_before(__u32 a, __u32 b)
{
	return (__s32)(a - b) < 0;
}

/*
 * Sequence analysis of one segment in its direction (struct ta_seq_track in ta_abi.h has the
 * rules and their error). Returns true when the segment covers sequence space seen before.
 * Each direction's track is written only by the CPU processing that direction's packet; should
 * one direction ever be processed on two CPUs at once, a segment may be misclassified, never
 * the map corrupted.
 */
static __always_inline bool ta_seq_retransmit(struct ta_seq_track *t, __u32 seq, __u32 len)
{
	__u32 end = seq + len, hs = t->hole_start, he = t->hole_end;
	bool seen_before = false;

	if (!t->seen) {
		t->seen = 1;
		t->end = end;
		return false;
	}
	if (ta_seq_before(seq, t->end)) {
		/* The part below the highest end, [seq, top), was seen unless it lies in the hole. */
		__u32 top = ta_seq_before(end, t->end) ? end : t->end;

		seen_before = hs == he || ta_seq_before(seq, hs) || ta_seq_before(he, top);
	}
	if (hs != he && ta_seq_before(seq, he) && ta_seq_before(hs, end)) {
		if (!ta_seq_before(hs, seq)) /* covers the hole's start: fill from below */
			t->hole_start = ta_seq_before(end, he) ? end : he;
		else /* starts inside: keep the lower part */
			t->hole_end = seq;
	}
	if (ta_seq_before(t->end, end)) {
		if (ta_seq_before(t->end, seq)) { /* a gap: the newest one is tracked */
			t->hole_start = t->end;
			t->hole_end = seq;
		}
		t->end = end;
	}
	return seen_before;
}

/* The client's ACK of the SYN-ACK: claim, re-check, report (see ta_handshakes). */
static __always_inline void ta_established(const struct ta_ctx *x, struct ta_conn_state *conn)
{
	__u32 one = 1;
	long err;

	err = bpf_map_update_elem(&ta_handshakes, &x->key, &one, BPF_NOEXIST);
	if (err) {
		/* -EEXIST: another CPU is reporting this handshake right now. */
		if (err != -EEXIST)
			ta_stat_inc(TA_STAT_CONN_UPDATE_FAILED);
		return;
	}
	if (*(volatile __u64 *)&conn->ack_ns == 0) {
		conn->ack_ns = x->now;
		ta_emit_conn(x, TA_EV_CONN_ESTABLISHED, conn, conn->flags);
	}
	bpf_map_delete_elem(&ta_handshakes, &x->key);
}

static __always_inline void ta_track(struct __sk_buff *skb, struct ta_ctx *x)
{
	__u8 flags = x->pkt.tcp_flags;
	bool client_syn = (flags & (TA_TCP_SYN | TA_TCP_ACK | TA_TCP_RST)) == TA_TCP_SYN &&
			  x->dir == TA_DIR_CLIENT_TO_SERVER;
	/* Only a client SYN or data creates state. A pure ACK, FIN or RST of a connection we
	 * do not know is its tail end (or a scan): nothing to track. */
	bool creates = client_syn || (x->pkt.payload_len && !(flags & TA_TCP_RST));
	struct ta_conn_state *conn;
	bool opened = false;
	__u8 dir = x->dir & 1;

	conn = bpf_map_lookup_elem(&ta_conns, &x->key);
	/* The clock is read only once the packet is known to matter: pure ACKs of flows we do
	 * not track (common on a busy port joined late) leave before paying for it. */
	if (!conn && !creates)
		return;
	x->now = bpf_ktime_get_ns();

	/* A client SYN with a new ISN on a known key: the 4-tuple is being reused and we missed
	 * the end of the previous connection (or joined it mid-stream). Close the old one. The
	 * same ISN is the same connection's SYN retransmitted (counted below). */
	if (conn && client_syn &&
	    (!(conn->flags & TA_CONN_F_SYN_SEEN) || conn->client_isn != x->pkt.seq)) {
		ta_close(x, conn, 0);
		conn = NULL;
	}

	if (!conn) {
		struct ta_conn_state init = {};
		long err;

		if (client_syn) {
			init.flags = TA_CONN_F_SYN_SEEN;
			init.syn_ns = x->now;
			init.client_isn = x->pkt.seq;
		} else {
			init.flags = TA_CONN_F_MID_STREAM;
		}
		init.first_seen_ns = x->now;
		init.last_seen_ns = x->now;

		/* NOEXIST: if the other direction's packet created the entry on another CPU
		 * meanwhile, that CPU reports the open and we just account into its entry. */
		err = bpf_map_update_elem(&ta_conns, &x->key, &init, BPF_NOEXIST);
		if (err == 0)
			opened = true;
		else if (err != -EEXIST)
			ta_stat_inc(TA_STAT_CONN_UPDATE_FAILED);
		conn = bpf_map_lookup_elem(&ta_conns, &x->key);
		if (!conn) {
			/* No state (insert failed, or evicted at once under LRU pressure): the
			 * payload is still worth more to the analyzer than the bookkeeping. */
			if (x->pkt.payload_len)
				ta_emit_payload(skb, x);
			return;
		}
	}

	/* Both directions of a flow can be updated on different CPUs at once (ingress and
	 * egress of the same connection): counters are atomic adds. last_seen is a plain
	 * store; any recent value will do. */
	__sync_fetch_and_add(&conn->bytes[dir], x->pkt.payload_len);
	__sync_fetch_and_add(&conn->packets[dir], 1);
	conn->last_seen_ns = x->now;
	if ((flags & (TA_TCP_SYN | TA_TCP_ACK)) == (TA_TCP_SYN | TA_TCP_ACK) &&
	    dir == TA_DIR_SERVER_TO_CLIENT && conn->synack_ns == 0)
		conn->synack_ns = x->now;

	/* Sequence space this segment occupies: payload, plus one each for SYN and FIN. Pure
	 * ACKs and bare RSTs occupy none and tell nothing about retransmission. */
	{
		__u32 len = x->pkt.payload_len + ((flags & TA_TCP_SYN) ? 1 : 0) +
			    ((flags & TA_TCP_FIN) ? 1 : 0);

		if (len && ta_seq_retransmit(&conn->seq[dir], x->pkt.seq, len))
			__sync_fetch_and_add(&conn->retransmits[dir], 1);
	}

	if (opened)
		ta_emit_conn(x, TA_EV_CONN_OPEN, conn, conn->flags);

	/* Handshake complete (RFC 9293 section 3.5): the client's first ACK, pure or carrying
	 * data, after the server's SYN-ACK, on a connection whose SYN we saw. The SYN-ACK and the
	 * ACK are causally ordered at any capture point (the client answers what it received),
	 * so synack_ns is visible here when it matters. */
	if (dir == TA_DIR_CLIENT_TO_SERVER &&
	    (flags & (TA_TCP_SYN | TA_TCP_ACK | TA_TCP_RST)) == TA_TCP_ACK &&
	    (conn->flags & TA_CONN_F_SYN_SEEN) && conn->synack_ns && !conn->ack_ns)
		ta_established(x, conn);

	if (x->pkt.payload_len)
		ta_emit_payload(skb, x);

	if (flags & TA_TCP_RST) {
		ta_close(x, conn, TA_CONN_F_RESET);
	} else if (flags & TA_TCP_FIN) {
		__u32 bit = dir == TA_DIR_CLIENT_TO_SERVER ? TA_CONN_F_FIN_C2S : TA_CONN_F_FIN_S2C;
		__u32 both = TA_CONN_F_FIN_C2S | TA_CONN_F_FIN_S2C;

		/* Set our FIN bit with an atomic add, not a read-modify-write that could lose
		 * the other side's bit set concurrently; atomic fetch-or would need 5.12.
		 * The test before it keeps a retransmitted FIN from adding the bit twice
		 * (one direction's packets are not processed on two CPUs at once), and the
		 * re-read after it sees both bits on at least one of two racing CPUs. */
		if (!(conn->flags & bit))
			__sync_fetch_and_add(&conn->flags, bit);
		if ((*(volatile __u32 *)&conn->flags & both) == both)
			ta_close(x, conn, 0);
	}
}

/* The parser's loader at tc: bpf_skb_load_bytes() walks the skb's fragments when the bytes
 * are not in the linear area, and never modifies the skb. */
static __always_inline int ta_parse_load(const struct ta_cursor *c, __u32 off, void *buf,
					 __u32 len)
{
	return bpf_skb_load_bytes(c->ctx, off, buf, len);
}

static __always_inline int ta_handle(struct __sk_buff *skb, __u8 point)
{
	struct ta_cursor c = {
		.ctx = skb,
		.data = (void *)(long)skb->data,
		.data_end = (void *)(long)skb->data_end,
		.pkt_len = skb->len,
	};
	struct ta_port_set *ports;
	struct ta_ctx x;
	__u32 zero = 0;
	bool sw, dw;
	int rc;

	rc = ta_parse_tcp_packet(&c, &x.pkt);
	switch (rc) {
	case TA_PARSE_OK:
		break;
	case TA_PARSE_SKIP:
		return TC_ACT_UNSPEC;
	case TA_PARSE_MALFORMED:
		ta_stat_inc(TA_STAT_MALFORMED);
		return TC_ACT_UNSPEC;
	case TA_PARSE_FRAGMENT:
		ta_stat_inc(TA_STAT_FRAGMENTS);
		return TC_ACT_UNSPEC;
	default: /* TA_PARSE_EXT_UNSUPPORTED */
		ta_stat_inc(TA_STAT_IPV6_EXT_UNSUPPORTED);
		return TC_ACT_UNSPEC;
	}

	ports = bpf_map_lookup_elem(&ta_ports, &zero);
	if (!ports)
		return TC_ACT_UNSPEC;
	sw = ta_port_watched(ports, x.pkt.sport);
	dw = ta_port_watched(ports, x.pkt.dport);
	if (!sw && !dw)
		return TC_ACT_UNSPEC;
	ta_stat_inc(TA_STAT_PACKETS);

	x.dir = ta_flow_key_make(&x.pkt, ta_source_is_server(&x.pkt, sw, dw), &x.key);
	x.point = point;
	x.ifindex = skb->ifindex;
	ta_track(skb, &x);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int ta_tc_ingress(struct __sk_buff *skb)
{
	return ta_handle(skb, TA_TC_INGRESS);
}

SEC("tc")
int ta_tc_egress(struct __sk_buff *skb)
{
	return ta_handle(skb, TA_TC_EGRESS);
}
