/* What scripts/gen-dpdk-bindings.sh hands to bindgen: the DPDK 22.11
 * headers whose items we use (filtered by the script's allow-lists) and our
 * shim's declarations. */
#include <rte_config.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_version.h>

#include "csrc/shim.h"
