/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * parse.bpf.h - bounded L2/L3/L4 header parsing shared by the tc and XDP programs.
 *
 * Headers are copied into small stack buffers before they are read, by one of two means:
 *
 *   - ta_read(), for headers at offsets the verifier can see are one of a few constants
 *     (Ethernet, VLAN tags, the IP header): a plain copy out of the linear area when the
 *     bytes are there, else the program's loader.
 *   - the program's loader alone, ta_parse_load(), for headers at offsets computed from packet
 *     bytes (IPv6 extension headers, TCP after IHL or an extension chain).
 *
 * Why not direct packet access throughout: a packet pointer at a variable offset makes the
 * verifier track that offset's exact range, and every path through an IPv6 extension chain
 * ends with a different range, so nothing after the parser could be pruned (with direct access
 * the tc program took 275k verifier steps and 0.3 s to load; this way 12k). A helper's offset
 * argument is not tracked that way. Copying also serves skbs whose headers are not
 * in the linear area (drivers that build skbs from page fragments leave everything but the
 * Ethernet header in frags until the IP layer pulls it): the loader reads fragments, so the
 * parser never has to bpf_skb_pull_data(), which would reallocate a packet we only observe.
 *
 * The including program defines, after this header:
 *
 *	static __always_inline int ta_parse_load(const struct ta_cursor *c, __u32 off,
 *						 void *buf, __u32 len);
 *
 * returning 0 or a negative errno: bpf_skb_load_bytes() at tc, bpf_xdp_load_bytes() (5.18) or a
 * bounds-checked copy at XDP. The caller has already checked off + len <= pkt_len.
 *
 * The userspace replay decoder (analyzer/capture/packet_decoder.cc) mirrors these rules line for
 * line; a change here must be made there too, and the shared fixtures in tests/common/ will
 * tell if the two disagree. Loops are unrolled with constant bounds so the object also loads
 * on kernels that predate bounded loops in the verifier.
 */
#ifndef TA_PARSE_BPF_H
#define TA_PARSE_BPF_H

#include <bpf/bpf_endian.h>
#include "ta_abi.h"

/* Ethertypes, IP protocol numbers and IPv6 extension headers (IANA registries). vmlinux.h has
 * no #defines, so they are spelled out here. */
#define TA_ETH_P_IP 0x0800
#define TA_ETH_P_IPV6 0x86DD
#define TA_ETH_P_8021Q 0x8100  /* IEEE 802.1Q customer VLAN tag */
#define TA_ETH_P_8021AD 0x88A8 /* IEEE 802.1ad service VLAN tag (QinQ outer) */

#define TA_IPPROTO_HOPOPTS 0
#define TA_IPPROTO_TCP 6
#define TA_IPPROTO_ROUTING 43
#define TA_IPPROTO_FRAGMENT 44
#define TA_IPPROTO_ESP 50
#define TA_IPPROTO_AH 51
#define TA_IPPROTO_DSTOPTS 60

/* IPv4 frag_off field: MF flag and 13-bit fragment offset (RFC 791). DF is irrelevant. */
#define TA_IP_MF 0x2000
#define TA_IP_OFFSET 0x1FFF
/* IPv6 fragment header frag_off field: 13-bit offset in the top bits, M flag in bit 0
 * (RFC 8200 section 4.5). */
#define TA_IP6_FRAG_OFFSET 0xFFF8
#define TA_IP6_FRAG_MORE 0x0001

/* TCP flags byte (RFC 9293 section 3.1; CWR/ECE per RFC 3168). */
#define TA_TCP_FIN 0x01
#define TA_TCP_SYN 0x02
#define TA_TCP_RST 0x04
#define TA_TCP_PSH 0x08
#define TA_TCP_ACK 0x10

#define TA_ETH_HLEN 14
#define TA_VLAN_HLEN 4
#define TA_IPV4_MIN_HLEN 20
#define TA_IPV6_HLEN 40
#define TA_TCP_MIN_HLEN 20

enum ta_parse_rc {
	TA_PARSE_OK = 0,          /* headers parsed, struct ta_packet filled as far as asked */
	TA_PARSE_SKIP,            /* not something we observe (ARP, UDP, ...): leave now */
	TA_PARSE_MALFORMED,       /* truncated or inconsistent header */
	TA_PARSE_FRAGMENT,        /* an IP fragment: no usable L4 header, not reassembled */
	TA_PARSE_EXT_UNSUPPORTED, /* IPv6 extension chain we cannot or will not walk */
};

/* What the parser learnt about one packet. Offsets are from the start of the frame (the
 * Ethernet header), which is also what bpf_skb_load_bytes() expects at tc. */
struct ta_packet {
	__u32 l3_off;
	__u32 l4_off;
	__u32 l3_end;      /* end of the IP datagram: excludes Ethernet padding */
	__u32 payload_off; /* first TCP payload byte */
	__u32 payload_len;
	__u32 seq;         /* host order */
	__u16 sport;       /* host order */
	__u16 dport;
	__u16 ethertype;   /* innermost, host order */
	__u8 family;       /* TA_AF_INET or TA_AF_INET6 */
	__u8 l4_proto;
	__u8 tcp_flags;
	__u8 pad[3];
	__u8 saddr[16];    /* IPv4 in the first 4 bytes, rest zero (as in struct ta_flow_key) */
	__u8 daddr[16];
};

/* The packet as the parser sees it: the program context for the loader, the directly
 * accessible window [data, data_end), and the whole packet's length. */
struct ta_cursor {
	void *ctx;
	void *data;
	void *data_end;
	__u32 pkt_len;
};

static __always_inline int ta_parse_load(const struct ta_cursor *c, __u32 off, void *buf,
					 __u32 len);

/* Copies len bytes at off into buf through the loader; MALFORMED if past the packet. */
static __always_inline int ta_load(const struct ta_cursor *c, __u32 off, void *buf, const __u32 len)
{
	if (off + len > c->pkt_len || ta_parse_load(c, off, buf, len) < 0)
		return TA_PARSE_MALFORMED;
	return TA_PARSE_OK;
}

/*
 * Copies len bytes at off into buf: from the linear area if they are there (a few loads and
 * stores), else through the loader. Only for offsets that are constants on every path. The
 * 16-bit mask gives the verifier the bound it needs for the pointer arithmetic on any kernel;
 * every offset this parser computes is far below it.
 */
static __always_inline int ta_read(const struct ta_cursor *c, __u32 off, void *buf, const __u32 len)
{
	void *p = c->data + (off & 0xFFFF);

	if (p + len <= c->data_end) {
		__builtin_memcpy(buf, p, len);
		return TA_PARSE_OK;
	}
	return ta_load(c, off, buf, len);
}

/*
 * L2: Ethernet, then up to two VLAN tags (802.1ad outer + 802.1Q inner, or 802.1Q twice as
 * some switches do). A tag the NIC or the VLAN device put into skb metadata (hardware VLAN
 * offload, and the kernel's own skb_vlan_untag() before tc ingress) is no longer in the data,
 * so it simply is not seen here. A third tag leaves a TPID as the ethertype: not IP, skipped.
 */
static __always_inline int ta_parse_l2(const struct ta_cursor *c, struct ta_packet *pkt)
{
	struct ethhdr eth;
	__u8 tag[TA_VLAN_HLEN];
	__u32 off = TA_ETH_HLEN;
	__u16 proto;

	if (ta_read(c, 0, &eth, sizeof(eth)))
		return TA_PARSE_MALFORMED;
	proto = bpf_ntohs(eth.h_proto);

#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != TA_ETH_P_8021Q && proto != TA_ETH_P_8021AD)
			break;
		if (ta_read(c, off, tag, sizeof(tag)))
			return TA_PARSE_MALFORMED;
		/* bytes 0-1 are the TCI, 2-3 the encapsulated ethertype */
		proto = ((__u16)tag[2] << 8) | tag[3];
		off += TA_VLAN_HLEN;
	}
	pkt->ethertype = proto;
	pkt->l3_off = off;
	return TA_PARSE_OK;
}

/*
 * IPv4 (RFC 791): version and IHL checked, options skipped by IHL, fragments reported.
 * A zero total length is taken as "the rest of the packet": that is how the kernel marks
 * IPv4 BIG TCP GSO packets larger than 64 KiB (Linux 6.3, commit "net: add gso_ipv4_max_size
 * and gro_ipv4_max_size per device").
 */
static __always_inline int ta_parse_ipv4(const struct ta_cursor *c, struct ta_packet *pkt)
{
	__u32 off = pkt->l3_off, hlen, tot;
	struct iphdr iph;
	__u8 vihl;

	if (ta_read(c, off, &iph, sizeof(iph)))
		return TA_PARSE_MALFORMED;
	vihl = *(__u8 *)&iph;
	hlen = (vihl & 0x0F) * 4;
	if ((vihl >> 4) != 4 || hlen < TA_IPV4_MIN_HLEN)
		return TA_PARSE_MALFORMED;
	tot = bpf_ntohs(iph.tot_len);
	if (tot == 0)
		tot = c->pkt_len - off;
	if (tot < hlen || off + tot > c->pkt_len)
		return TA_PARSE_MALFORMED;

	pkt->family = TA_AF_INET;
	pkt->l4_proto = iph.protocol;
	pkt->l4_off = off + hlen;
	pkt->l3_end = off + tot;
	__builtin_memcpy(pkt->saddr, &iph.saddr, 4);
	__builtin_memcpy(pkt->daddr, &iph.daddr, 4);
	__builtin_memset(pkt->saddr + 4, 0, 12);
	__builtin_memset(pkt->daddr + 4, 0, 12);

	if (bpf_ntohs(iph.frag_off) & (TA_IP_MF | TA_IP_OFFSET))
		return TA_PARSE_FRAGMENT;
	return TA_PARSE_OK;
}

/*
 * IPv6 (RFC 8200). Walks at most TA_IPV6_MAX_EXT_HDRS extension headers: hop-by-hop,
 * routing and destination options ((hdrlen + 1) * 8 bytes), AH ((hdrlen + 2) * 4 bytes,
 * RFC 4302) and the fragment header (8 bytes). A real fragment (offset or M set) stops the
 * walk; an atomic fragment (both zero, RFC 6946) is a whole packet and the walk goes on.
 * ESP hides what follows, and a chain longer than the bound is not walked: both are
 * TA_PARSE_EXT_UNSUPPORTED. Any other next header is simply not TCP.
 *
 * A zero payload length means "the rest of the packet" (RFC 2675 jumbograms and IPv6 BIG TCP,
 * Linux 5.19, which leaves payload_len at zero for GSO packets larger than 64 KiB).
 */
static __always_inline int ta_parse_ipv6(const struct ta_cursor *c, struct ta_packet *pkt)
{
	__u32 off = pkt->l3_off, end, plen;
	struct ipv6hdr ip6;
	__u8 nexthdr, ext[8];

	if (ta_read(c, off, &ip6, sizeof(ip6)))
		return TA_PARSE_MALFORMED;
	if ((*(__u8 *)&ip6 >> 4) != 6)
		return TA_PARSE_MALFORMED;
	plen = bpf_ntohs(ip6.payload_len);
	end = plen ? off + TA_IPV6_HLEN + plen : c->pkt_len;
	if (end > c->pkt_len)
		return TA_PARSE_MALFORMED;

	pkt->family = TA_AF_INET6;
	pkt->l3_end = end;
	__builtin_memcpy(pkt->saddr, &ip6.saddr, 16);
	__builtin_memcpy(pkt->daddr, &ip6.daddr, 16);
	nexthdr = ip6.nexthdr;
	off += TA_IPV6_HLEN;

#pragma unroll
	for (int i = 0; i < TA_IPV6_MAX_EXT_HDRS; i++) {
		if (nexthdr != TA_IPPROTO_HOPOPTS && nexthdr != TA_IPPROTO_ROUTING &&
		    nexthdr != TA_IPPROTO_DSTOPTS && nexthdr != TA_IPPROTO_AH &&
		    nexthdr != TA_IPPROTO_FRAGMENT)
			break;
		/* Every walkable extension header is at least 8 bytes and starts with next
		 * header and a length byte; the fragment header's offset field follows. */
		if (off + 8 > end || ta_load(c, off, ext, sizeof(ext)))
			return TA_PARSE_MALFORMED;
		if (nexthdr == TA_IPPROTO_FRAGMENT) {
			__u16 frag = ((__u16)ext[2] << 8) | ext[3];

			if (frag & (TA_IP6_FRAG_OFFSET | TA_IP6_FRAG_MORE)) {
				pkt->l4_proto = ext[0];
				return TA_PARSE_FRAGMENT;
			}
			off += 8;
		} else if (nexthdr == TA_IPPROTO_AH) {
			off += ((__u32)ext[1] + 2) * 4;
		} else {
			off += ((__u32)ext[1] + 1) * 8;
		}
		nexthdr = ext[0];
		if (off > end)
			return TA_PARSE_MALFORMED;
	}

	pkt->l4_proto = nexthdr;
	pkt->l4_off = off;
	if (nexthdr == TA_IPPROTO_ESP || nexthdr == TA_IPPROTO_HOPOPTS ||
	    nexthdr == TA_IPPROTO_ROUTING || nexthdr == TA_IPPROTO_DSTOPTS ||
	    nexthdr == TA_IPPROTO_AH || nexthdr == TA_IPPROTO_FRAGMENT)
		return TA_PARSE_EXT_UNSUPPORTED;
	return TA_PARSE_OK;
}

/*
 * TCP (RFC 9293): the fixed 20 bytes are read; options are skipped by data offset and never
 * read. The payload is what the IP datagram holds after the TCP header, which excludes
 * Ethernet padding of short frames.
 */
static __always_inline int ta_parse_tcp(const struct ta_cursor *c, struct ta_packet *pkt)
{
	__u32 off = pkt->l4_off, hlen;
	struct tcphdr th;
	__u8 *raw = (__u8 *)&th;

	if (off + TA_TCP_MIN_HLEN > pkt->l3_end || ta_load(c, off, &th, sizeof(th)))
		return TA_PARSE_MALFORMED;
	hlen = (raw[12] >> 4) * 4;
	if (hlen < TA_TCP_MIN_HLEN || off + hlen > pkt->l3_end)
		return TA_PARSE_MALFORMED;

	pkt->sport = bpf_ntohs(th.source);
	pkt->dport = bpf_ntohs(th.dest);
	pkt->seq = bpf_ntohl(th.seq);
	pkt->tcp_flags = raw[13];
	pkt->payload_off = off + hlen;
	pkt->payload_len = pkt->l3_end - (off + hlen);
	return TA_PARSE_OK;
}

/* L2 + L3 + TCP. TA_PARSE_SKIP for anything that is not TCP over IPv4/IPv6. */
static __always_inline int ta_parse_tcp_packet(const struct ta_cursor *c, struct ta_packet *pkt)
{
	int rc = ta_parse_l2(c, pkt);

	if (rc != TA_PARSE_OK)
		return rc;
	if (pkt->ethertype == TA_ETH_P_IP)
		rc = ta_parse_ipv4(c, pkt);
	else if (pkt->ethertype == TA_ETH_P_IPV6)
		rc = ta_parse_ipv6(c, pkt);
	else
		return TA_PARSE_SKIP;
	if (rc != TA_PARSE_OK)
		return rc;
	if (pkt->l4_proto != TA_IPPROTO_TCP)
		return TA_PARSE_SKIP;
	return ta_parse_tcp(c, pkt);
}

#endif /* TA_PARSE_BPF_H */
