/* RFC 6528 ISNs: ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), M a 4-microsecond timer and F SipHash-2-4 keyed with 128 bits
 * from rumpuser_getrandom() at first use. */
#include "lwip/opt.h"
#include "lwip/ip_addr.h"
#include "bmk/kernel.h"
#include "bmk/rumpuser.h"
#include "fwnet_hooks.h"

static uint64_t key[2];
static int keyed;

u32_t fwnet_tcp_isn(const ip_addr_t *lip, u16_t lport, const ip_addr_t *rip, u16_t rport) {
  if (!keyed) {
    size_t got;
    rumpuser_getrandom(key, sizeof(key), RUMPUSER_RANDOM_HARD, &got);
    keyed = 1;
  }
  uint64_t addrs = (uint64_t)ip4_addr_get_u32(ip_2_ip4(lip)) << 32 | ip4_addr_get_u32(ip_2_ip4(rip));
  uint64_t ports = (uint64_t)lport << 16 | rport;
  uint64_t f = bmk_siphash(key[0] ^ ports, key[1], addrs);
  return (u32_t)(bmk_clock_mono_ns() / 4000) + (u32_t)f;
}
