/* See shim.h. Part of edge-upf; compiled by vendor-dpdk/sys/build.rs. */
#include <rte_config.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "shim.h"

int upf_rte_errno(void) { return rte_errno; }
unsigned int upf_lcore_id(void) { return rte_lcore_id(); }
uint64_t upf_rdtsc(void) { return rte_rdtsc(); }

uint16_t upf_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                          struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t upf_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                          struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *upf_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

int upf_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                           unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void upf_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }
void upf_pktmbuf_reset(struct rte_mbuf *m) { rte_pktmbuf_reset(m); }

char *upf_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, char *); }
char *upf_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }
char *upf_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }
char *upf_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
int upf_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }
uint16_t upf_pktmbuf_headroom(const struct rte_mbuf *m) { return rte_pktmbuf_headroom(m); }
uint16_t upf_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }
int upf_pktmbuf_is_contiguous(const struct rte_mbuf *m) { return rte_pktmbuf_is_contiguous(m); }

uint16_t upf_mbuf_refcnt_read(const struct rte_mbuf *m) { return rte_mbuf_refcnt_read(m); }
uint16_t upf_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value)
{
	return rte_mbuf_refcnt_update(m, value);
}

unsigned int upf_ring_enqueue_burst(struct rte_ring *r, void *const *objs,
                                    unsigned int n)
{
	return rte_ring_enqueue_burst(r, objs, n, NULL);
}

unsigned int upf_ring_dequeue_burst(struct rte_ring *r, void **objs,
                                    unsigned int n)
{
	return rte_ring_dequeue_burst(r, objs, n, NULL);
}

unsigned int upf_ring_count(const struct rte_ring *r) { return rte_ring_count(r); }

uint64_t upf_rss_hf_ip_udp(void) { return RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP; }
uint64_t upf_tx_offload_multi_segs(void) { return RTE_ETH_TX_OFFLOAD_MULTI_SEGS; }

size_t upf_mbuf_struct_size(void) { return sizeof(struct rte_mbuf); }
size_t upf_mbuf_offset_data_off(void) { return offsetof(struct rte_mbuf, data_off); }
size_t upf_mbuf_offset_port(void) { return offsetof(struct rte_mbuf, port); }
size_t upf_mbuf_offset_pkt_len(void) { return offsetof(struct rte_mbuf, pkt_len); }
size_t upf_mbuf_offset_data_len(void) { return offsetof(struct rte_mbuf, data_len); }
size_t upf_mbuf_offset_buf_len(void) { return offsetof(struct rte_mbuf, buf_len); }
