/*
 * edge-upf C shim over DPDK 22.11: the static inline functions of DPDK's
 * headers that Rust cannot call directly, compiled into a small static
 * library by build.rs (cc crate). Every function here is a thin call of
 * the inline function of the same name without the `upf_` prefix.
 *
 * The per-packet buffer arithmetic (data pointer, adj, prepend, append,
 * trim) is also done in Rust on the bound struct fields so it inlines; the
 * shim versions exist so tests can check that both agree.
 */
#ifndef EDGE_UPF_DPDK_SHIM_H
#define EDGE_UPF_DPDK_SHIM_H

#include <stddef.h>
#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

/* rte_errno of the calling thread. */
int upf_rte_errno(void);
/* rte_lcore_id(): the EAL lcore of the calling thread (or UINT32_MAX). */
unsigned int upf_lcore_id(void);
/* rte_rdtsc(). */
uint64_t upf_rdtsc(void);

/* Burst I/O. */
uint16_t upf_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                          struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t upf_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                          struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

/* Mbuf allocation and release. */
struct rte_mbuf *upf_pktmbuf_alloc(struct rte_mempool *mp);
int upf_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                           unsigned int count);
void upf_pktmbuf_free(struct rte_mbuf *m);
void upf_pktmbuf_reset(struct rte_mbuf *m);

/* Mbuf data adjustments (single segment; NULL or -1 when out of room). */
char *upf_pktmbuf_mtod(struct rte_mbuf *m);
char *upf_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
char *upf_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *upf_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
int upf_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
uint16_t upf_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t upf_pktmbuf_tailroom(const struct rte_mbuf *m);
int upf_pktmbuf_is_contiguous(const struct rte_mbuf *m);

/* Reference counts. */
uint16_t upf_mbuf_refcnt_read(const struct rte_mbuf *m);
uint16_t upf_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value);

/* Rings of object pointers. */
unsigned int upf_ring_enqueue_burst(struct rte_ring *r, void *const *objs,
                                    unsigned int n);
unsigned int upf_ring_dequeue_burst(struct rte_ring *r, void **objs,
                                    unsigned int n);
unsigned int upf_ring_count(const struct rte_ring *r);

/* Values DPDK defines with function-like macros (bindgen cannot). */
uint64_t upf_rss_hf_ip_udp(void);
uint64_t upf_tx_offload_multi_segs(void);

/* Layout facts checked against the bindings by tests. */
size_t upf_mbuf_struct_size(void);
size_t upf_mbuf_offset_data_off(void);
size_t upf_mbuf_offset_port(void);
size_t upf_mbuf_offset_pkt_len(void);
size_t upf_mbuf_offset_data_len(void);
size_t upf_mbuf_offset_buf_len(void);

#endif
