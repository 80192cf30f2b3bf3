// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ssl_uprobes.bpf.c - TLS plaintext from OpenSSL's libssl, tied to the TCP connection.
 *
 * Uprobes on SSL_read, SSL_write, SSL_read_ex and SSL_write_ex (attached once per library
 * file by agent/tls_probes.cc) see the plaintext buffer on entry and the byte count on return.
 * Which connection the SSL object talks over is learnt without reading a single OpenSSL
 * struct: while a thread is inside one of those calls, the read/write family of syscalls it
 * makes (sys_enter_* tracepoints) names the socket's fd, and the socket's addresses come from
 * the kernel's own structs through CO-RE (task->files->fdt->fd[fd]->private_data->sk), which
 * libbpf relocates against the running kernel's BTF. OpenSSL releases can move their structs
 * freely; only the four exported function signatures matter, and those are public API.
 *
 * A call served entirely from OpenSSL's record buffer makes no syscall, so the last mapping
 * seen for each (process, SSL object) is kept in the LRU hash ta_tls_socks; SSL_free drops it
 * (the allocator may hand the same address to the next session). A session never seen in a
 * syscall (e.g. the whole first record arrived during the handshake, or a memory BIO) is
 * reported with TA_TLS_F_UNMAPPED and counted, never dropped silently.
 *
 * The layouts of every record and counter are in ta_abi.h; docs/tls.md has the limits.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "ta_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* uapi values vmlinux.h cannot carry (they are #defines). */
#define TA_S_IFMT 0170000
#define TA_S_IFSOCK 0140000
#define TA_SOCK_STREAM 1

/* Set by the loader before load. snaplen: plaintext bytes copied per call, clamped to
 * TA_MAX_SNAPLEN; abi_version: read back by the daemon to refuse an object from another
 * ta_abi.h. */
const volatile __u32 snaplen = 1024;
const volatile __u32 abi_version = TA_ABI_VERSION;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} ta_tls_events SEC(".maps");

/* Watched ports (struct ta_port_set, entry 0), as in tc_capture.bpf.c. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ta_port_set);
} ta_tls_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TA_TLS_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ta_tls_stats SEC(".maps");

/* A thread inside an SSL call, between the entry and the return probe. */
struct ta_ssl_call {
	__u64 ssl;
	__u64 buf;
	__u64 ex_count; /* size_t *readbytes / *written of the _ex calls, else 0 */
	__u64 start_ns;
	__s32 fd;       /* last fd of a read/write syscall made inside the call, -1 if none */
	__u16 depth;    /* nested hooked calls (an SSL_read that calls SSL_read_ex inside) */
	__u8 op;
	__u8 is_ex;
};

/* Keyed by bpf_get_current_pid_tgid(): one call in flight per thread. LRU so that entries of
 * threads killed inside a call (no return probe ever runs) age out instead of filling it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ta_ssl_call);
} ta_ssl_calls SEC(".maps");

struct ta_ssl_key {
	__u64 ssl;
	__u32 tgid;
	__u32 pad;
};

struct ta_tls_sock {
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u8 family;
	__u8 pad[3];
};

/* Last socket seen under each SSL object; max_entries set from config before load. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ta_ssl_key);
	__type(value, struct ta_tls_sock);
} ta_tls_socks SEC(".maps");

/* Processes that made a hooked call since their last exec: the first call of each announces
 * the process (TA_EV_PROC_TLS). LRU: exited processes age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} ta_tls_procs SEC(".maps");

static __always_inline void ta_tls_stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&ta_tls_stats, &idx);

	/* Per-CPU slot; uprobes and tracepoints run with preemption disabled (migration
	 * at least) and do not nest on one CPU with each other, so a plain add. */
	if (v)
		*v += 1;
}

static __always_inline __u32 ta_snaplen(void)
{
	__u32 limit = snaplen;

	return limit > TA_MAX_SNAPLEN ? TA_MAX_SNAPLEN : limit;
}

static __always_inline void ta_emit_proc(__u8 kind, __u32 tgid)
{
	struct ta_proc_event *e;

	e = bpf_ringbuf_reserve(&ta_tls_events, sizeof(*e), 0);
	if (!e) {
		ta_tls_stat_inc(TA_TLS_STAT_EXEC_DROP);
		return;
	}
	e->hdr.ts_ns = bpf_ktime_get_ns();
	e->hdr.ifindex = 0;
	e->hdr.kind = kind;
	e->hdr.dir = 0;
	e->hdr.tc_point = 0;
	e->hdr.pad = 0;
	e->tgid = tgid;
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Entry probes                                                                              */

static __always_inline int ta_ssl_enter(struct pt_regs *ctx, __u8 op, __u8 is_ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ta_ssl_call *cur = bpf_map_lookup_elem(&ta_ssl_calls, &id);
	struct ta_ssl_call c = {};

	if (cur) {
		/* A hooked call inside a hooked call on this thread (some OpenSSL versions
		 * implement one in terms of another): the outer call reports, with the
		 * outer buffer and count. A stale entry from a killed thread whose id was
		 * reused looks the same and costs one call. */
		cur->depth++;
		return 0;
	}
	{
		/* A process nobody announced (forked from one that exec'd long ago, or started
		 * before the agent and never rescanned): tell the loader once. */
		__u32 tgid = id >> 32;
		__u8 one = 1;

		if (!bpf_map_lookup_elem(&ta_tls_procs, &tgid) &&
		    bpf_map_update_elem(&ta_tls_procs, &tgid, &one, BPF_NOEXIST) == 0)
			ta_emit_proc(TA_EV_PROC_TLS, tgid);
	}
	c.ssl = PT_REGS_PARM1(ctx);
	c.buf = PT_REGS_PARM2(ctx);
	c.ex_count = is_ex ? PT_REGS_PARM4(ctx) : 0;
	c.start_ns = bpf_ktime_get_ns();
	c.fd = -1;
	c.op = op;
	c.is_ex = is_ex;
	if (bpf_map_update_elem(&ta_ssl_calls, &id, &c, BPF_ANY) != 0)
		ta_tls_stat_inc(TA_TLS_STAT_CALLS_LOST);
	return 0;
}

SEC("uprobe")
int ta_ssl_read_enter(struct pt_regs *ctx)
{
	return ta_ssl_enter(ctx, TA_TLS_OP_READ, 0);
}

SEC("uprobe")
int ta_ssl_write_enter(struct pt_regs *ctx)
{
	return ta_ssl_enter(ctx, TA_TLS_OP_WRITE, 0);
}

SEC("uprobe")
int ta_ssl_read_ex_enter(struct pt_regs *ctx)
{
	return ta_ssl_enter(ctx, TA_TLS_OP_READ, 1);
}

SEC("uprobe")
int ta_ssl_write_ex_enter(struct pt_regs *ctx)
{
	return ta_ssl_enter(ctx, TA_TLS_OP_WRITE, 1);
}

/* SSL_free(ssl): the address may be reused by the next session; forget its socket. */
SEC("uprobe")
int ta_ssl_free_enter(struct pt_regs *ctx)
{
	struct ta_ssl_key key = {
		.ssl = PT_REGS_PARM1(ctx),
		.tgid = bpf_get_current_pid_tgid() >> 32,
	};

	bpf_map_delete_elem(&ta_tls_socks, &key);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Syscalls made inside an SSL call: the socket's fd                                         */

static __always_inline int ta_note_fd(__u64 fd)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ta_ssl_call *c = bpf_map_lookup_elem(&ta_ssl_calls, &id);

	/* Every read/write on the machine passes here; threads outside an SSL call leave after
	 * one hash lookup. The last fd wins: OpenSSL's socket BIO touches only its socket. */
	if (c)
		c->fd = (__s32)fd;
	return 0;
}

/* All of these take the fd as their first argument. */
SEC("tracepoint/syscalls/sys_enter_read")
int ta_sys_read(struct trace_event_raw_sys_enter *ctx)
{
	return ta_note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_write")
int ta_sys_write(struct trace_event_raw_sys_enter *ctx)
{
	return ta_note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int ta_sys_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	return ta_note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int ta_sys_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return ta_note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int ta_sys_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	return ta_note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int ta_sys_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return ta_note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int ta_sys_readv(struct trace_event_raw_sys_enter *ctx)
{
	return ta_note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int ta_sys_writev(struct trace_event_raw_sys_enter *ctx)
{
	return ta_note_fd(ctx->args[0]);
}

/*
 * fd -> struct file -> struct socket -> struct sock of the current task, all through CO-RE
 * reads (bpf_probe_read_kernel underneath: a racing close() yields a failed read or a stale
 * but valid-typed value, never a fault). Returns 0 and fills *out for a connected-or-bound
 * IPv4/IPv6 stream socket.
 */
static __always_inline int ta_fd_to_sock(__s32 fd, struct ta_tls_sock *out)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt;
	struct file **fds;
	struct file *file = NULL;
	struct socket *sock;
	struct sock *sk;
	unsigned int max_fds;
	umode_t mode;
	__u16 family;

	if (fd < 0)
		return -1;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return -1;
	max_fds = BPF_CORE_READ(fdt, max_fds);
	if ((__u32)fd >= max_fds)
		return -1;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) != 0 || !file)
		return -1;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & TA_S_IFMT) != TA_S_IFSOCK)
		return -1;
	/* A socket file's private_data is its struct socket (net/socket.c sock_alloc_file). */
	sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, type) != TA_SOCK_STREAM)
		return -1;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return -1;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__builtin_memset(out, 0, sizeof(*out));
	out->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	out->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == TA_AF_INET) {
		out->family = TA_AF_INET;
		/* bpf_core_read with explicit sizes: BPF_CORE_READ_INTO copies sizeof(*dst),
		 * one byte for a __u8 array. */
		bpf_core_read(out->local_addr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(out->remote_addr, 4, &sk->__sk_common.skc_daddr);
		return 0;
	}
	if (family != TA_AF_INET6)
		return -1;
	bpf_core_read(out->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	bpf_core_read(out->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
	/* ::ffff:a.b.c.d on a dual-stack socket is an IPv4 connection on the wire, which is
	 * how tc_capture (and the analyzer) key it. */
	{
		const __u8 *r = out->remote_addr;
		bool mapped = r[10] == 0xff && r[11] == 0xff;

#pragma unroll
		for (int i = 0; i < 10; i++)
			mapped = mapped && r[i] == 0;
		if (mapped) {
			__builtin_memmove(out->local_addr, out->local_addr + 12, 4);
			__builtin_memmove(out->remote_addr, out->remote_addr + 12, 4);
			__builtin_memset(out->local_addr + 4, 0, 12);
			__builtin_memset(out->remote_addr + 4, 0, 12);
			out->family = TA_AF_INET;
			return 0;
		}
	}
	out->family = TA_AF_INET6;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Return probes                                                                             */

static __always_inline void ta_emit_class(const struct ta_ssl_call *c, const struct ta_tls_sock *s,
					  __u16 flags, __u32 len, __u32 cap, __u64 now,
					  const __u32 class_size)
{
	struct ta_tls_event *e;
	__u64 id = bpf_get_current_pid_tgid();

	e = bpf_ringbuf_reserve(&ta_tls_events, sizeof(*e) + class_size, 0);
	if (!e) {
		ta_tls_stat_inc(TA_TLS_STAT_RINGBUF_DROP);
		return;
	}
	e->hdr.ts_ns = now;
	e->hdr.ifindex = 0;
	e->hdr.kind = TA_EV_TLS_DATA;
	e->hdr.dir = 0;
	e->hdr.tc_point = 0;
	e->hdr.pad = 0;
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->ssl = c->ssl;
	e->start_ns = c->start_ns;
	__builtin_memcpy(e->local_addr, s->local_addr, 16);
	__builtin_memcpy(e->remote_addr, s->remote_addr, 16);
	e->local_port = s->local_port;
	e->remote_port = s->remote_port;
	e->family = s->family;
	e->op = c->op;
	e->flags = flags;
	e->len = len;
	if (class_size && cap) {
		/* The verifier must see 0 < n <= class_size in the register passed to the
		 * helper; the empty asm keeps clang from merging the classes' bounds (see
		 * tc_capture.bpf.c ta_emit_payload_class). */
		__u64 n = cap;

		asm volatile("" : "+r"(n));
		if (n > class_size)
			n = class_size;
		cap = n;
		if (bpf_probe_read_user(e->data, n, (const void *)c->buf) != 0) {
			ta_tls_stat_inc(TA_TLS_STAT_READ_FAILED);
			cap = 0;
		}
	} else {
		cap = 0;
	}
	e->cap_len = cap;
	bpf_ringbuf_submit(e, 0);
	ta_tls_stat_inc(TA_TLS_STAT_RECORDS);
}

static __always_inline int ta_ssl_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ta_ssl_call *cur = bpf_map_lookup_elem(&ta_ssl_calls, &id);
	struct ta_ssl_key key = {};
	struct ta_tls_sock sock = {};
	struct ta_tls_sock *cached;
	struct ta_port_set *ports;
	struct ta_ssl_call c;
	__u16 flags = 0;
	__u32 zero = 0;
	__u64 len = 0;
	__u32 cap;
	int ret;

	if (!cur)
		return 0;
	if (cur->depth) {
		cur->depth--;
		return 0;
	}
	c = *cur;
	bpf_map_delete_elem(&ta_ssl_calls, &id);

	ret = (int)PT_REGS_RC(ctx);
	key.ssl = c.ssl;
	key.tgid = id >> 32;

	/* Learn (or refresh) the socket even when the call failed or read nothing: a
	 * non-blocking SSL_read that returns WANT_READ still tried the socket. */
	if (ta_fd_to_sock(c.fd, &sock) == 0)
		bpf_map_update_elem(&ta_tls_socks, &key, &sock, BPF_ANY);

	if (c.is_ex) {
		/* SSL_read_ex/SSL_write_ex return 1 on success with the count in *out. */
		if (ret != 1 || !c.ex_count)
			return 0;
		if (bpf_probe_read_user(&len, sizeof(len), (const void *)c.ex_count) != 0) {
			ta_tls_stat_inc(TA_TLS_STAT_READ_FAILED);
			return 0;
		}
		flags |= TA_TLS_F_EX;
	} else {
		if (ret <= 0)
			return 0;
		len = ret;
	}
	if (len == 0)
		return 0;
	if (len > 0xffffffffull)
		len = 0xffffffffull;

	if (c.fd < 0 || sock.family == 0) {
		cached = bpf_map_lookup_elem(&ta_tls_socks, &key);
		if (cached) {
			sock = *cached;
		} else {
			__builtin_memset(&sock, 0, sizeof(sock));
			flags |= TA_TLS_F_UNMAPPED;
			ta_tls_stat_inc(TA_TLS_STAT_UNMAPPED);
		}
	}
	if (!(flags & TA_TLS_F_UNMAPPED)) {
		ports = bpf_map_lookup_elem(&ta_tls_ports, &zero);
		if (!ports)
			return 0;
		if (!((ports->bits[(sock.local_port >> 6) & 1023] >> (sock.local_port & 63)) & 1) &&
		    !((ports->bits[(sock.remote_port >> 6) & 1023] >> (sock.remote_port & 63)) & 1))
			return 0;
	}

	cap = len < ta_snaplen() ? (__u32)len : ta_snaplen();
	{
		__u64 now = bpf_ktime_get_ns();
		__u32 l = (__u32)len;

		if (cap <= 64)
			ta_emit_class(&c, &sock, flags, l, cap, now, 64);
		else if (cap <= 256)
			ta_emit_class(&c, &sock, flags, l, cap, now, 256);
		else if (cap <= 1024)
			ta_emit_class(&c, &sock, flags, l, cap, now, 1024);
		else
			ta_emit_class(&c, &sock, flags, l, cap, now, TA_MAX_SNAPLEN);
	}
	return 0;
}

SEC("uretprobe")
int ta_ssl_read_exit(struct pt_regs *ctx)
{
	return ta_ssl_return(ctx);
}

SEC("uretprobe")
int ta_ssl_write_exit(struct pt_regs *ctx)
{
	return ta_ssl_return(ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* New processes                                                                             */

/*
 * Every exec, so the loader can look at the new process once its dynamic loader has mapped
 * its libraries. Libraries already hooked need nothing (a uprobe lives on the file and covers
 * every process that maps it, including future ones); this is for new library files and for
 * coverage reporting.
 */
SEC("tracepoint/sched/sched_process_exec")
int ta_proc_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	/* A new image: its first SSL call announces it again. */
	bpf_map_delete_elem(&ta_tls_procs, &tgid);
	ta_emit_proc(TA_EV_PROC_EXEC, tgid);
	return 0;
}
