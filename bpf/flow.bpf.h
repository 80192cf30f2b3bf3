/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * flow.bpf.h - watched-port test and the canonical flow key.
 *
 * Both directions of a connection must land on the same struct ta_flow_key, whichever tc
 * point (ingress or egress) and whichever CPU sees them, so the key is built from roles
 * (client, server) rather than from (source, destination). The server is the watched end.
 * The rule has to be a pure function of the packet, with no state, so that a flow first seen
 * from either side gets the same answer:
 *
 *   1. exactly one port watched: that end is the server;
 *   2. both watched: the lower port number is the server (services listen on the low,
 *      well-known port; clients get ephemeral ports from the high range);
 *   3. both watched and equal: the numerically lower address (bytewise, network order) is the
 *      server; with equal addresses too the destination is.
 *
 * analyzer/capture/packet_decoder.cc implements the same rule for replay.
 */
#ifndef TA_FLOW_BPF_H
#define TA_FLOW_BPF_H

#include "ta_abi.h"
#include "parse.bpf.h"

static __always_inline bool ta_port_watched(const struct ta_port_set *set, __u16 port)
{
	return (set->bits[port >> 6] >> (port & 63)) & 1;
}

/* Returns < 0, 0, > 0 as a compares below, equal or above b, as memcmp() would. */
static __always_inline int ta_addr_cmp(const __u8 *a, const __u8 *b)
{
#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	}
	return 0;
}

/* Is the packet's source the server? Only called when at least one port is watched. */
static __always_inline bool ta_source_is_server(const struct ta_packet *pkt, bool sport_watched,
						bool dport_watched)
{
	if (sport_watched != dport_watched)
		return sport_watched;
	if (pkt->sport != pkt->dport)
		return pkt->sport < pkt->dport;
	return ta_addr_cmp(pkt->saddr, pkt->daddr) < 0;
}

/* Fills the canonical key and returns the packet's enum ta_direction. */
static __always_inline __u8 ta_flow_key_make(const struct ta_packet *pkt, bool source_is_server,
					     struct ta_flow_key *key)
{
	key->family = pkt->family;
	key->pad[0] = 0;
	key->pad[1] = 0;
	key->pad[2] = 0;
	if (source_is_server) {
		__builtin_memcpy(key->server_addr, pkt->saddr, 16);
		__builtin_memcpy(key->client_addr, pkt->daddr, 16);
		key->server_port = pkt->sport;
		key->client_port = pkt->dport;
		return TA_DIR_SERVER_TO_CLIENT;
	}
	__builtin_memcpy(key->client_addr, pkt->saddr, 16);
	__builtin_memcpy(key->server_addr, pkt->daddr, 16);
	key->client_port = pkt->sport;
	key->server_port = pkt->dport;
	return TA_DIR_CLIENT_TO_SERVER;
}

#endif /* TA_FLOW_BPF_H */
