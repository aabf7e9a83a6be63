/* lwIP configuration for fwnet's bare-metal image: the sequential and socket
 * APIs over the platform's threads, IPv4, DHCP, DNS, select/poll, sized for
 * throughput in 32 MiB. */
#ifndef FWNET_LWIPOPTS_H
#define FWNET_LWIPOPTS_H

#define NO_SYS 0
#define SYS_LIGHTWEIGHT_PROT 1 /* a no-op pair: cooperative, handlers in threads */
#define LWIP_TCPIP_CORE_LOCKING 1
#define LWIP_SOCKET 1
#define LWIP_NETCONN 1
#define LWIP_COMPAT_SOCKETS 0 /* lwip_socket() etc.: no clash with efisock's names */
#define LWIP_POSIX_SOCKETS_IO_NAMES 0
#define LWIP_SOCKET_SELECT 1
#define LWIP_SOCKET_POLL 1
#define LWIP_SOCKET_OFFSET 3 /* descriptors numbered as on Linux after stdio */
#define LWIP_SO_RCVTIMEO 1
#define LWIP_SO_SNDTIMEO 1
#define LWIP_SO_RCVBUF 1
#define LWIP_SO_LINGER 1
#define SO_REUSE 1
#define LWIP_TCP_KEEPALIVE 1
#define LWIP_PROVIDE_ERRNO 1
#define LWIP_DHCP 1
#define LWIP_DNS 1
/* the image's /etc/hosts */
#define DNS_LOCAL_HOSTLIST 1
#define DNS_LOCAL_HOSTLIST_INIT {DNS_LOCAL_HOSTLIST_ELEM("localhost", IPADDR4_INIT_BYTES(127, 0, 0, 1))}
#define LWIP_HAVE_LOOPIF 1
#define LWIP_NETIF_LOOPBACK 1
#define LWIP_NETIF_API 1
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK 1
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ICMP 1
#define LWIP_RAW 1
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_ARP 1
#define ETHARP_SUPPORT_STATIC_ENTRIES 1
#define ARP_QUEUEING 1 /* keep every packet waiting for an answer, not just the last */
#define MEMP_NUM_ARP_QUEUE 64
#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
#define LWIP_NETIF_HOSTNAME 1

#define MEM_ALIGNMENT 8
#define MEM_SIZE (1024 * 1024)
#define MEMP_NUM_PBUF 256
#define MEMP_NUM_TCP_PCB 40
#define MEMP_NUM_TCP_PCB_LISTEN 16
#define MEMP_NUM_TCP_SEG 512
#define MEMP_NUM_NETCONN 48
#define MEMP_NUM_NETBUF 64
#define MEMP_NUM_UDP_PCB 16
#define MEMP_NUM_SYS_TIMEOUT (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 8)
#define MEMP_NUM_SELECT_CB 16
/* the interrupt thread hands a whole rx ring of frames to the tcpip thread
 * before it runs (cooperative): one message each, or frames are dropped */
#define MEMP_NUM_TCPIP_MSG_INPKT 512
#define MEMP_NUM_TCPIP_MSG_API 64
#define PBUF_POOL_SIZE 512
#define TCP_MSS 1460
#define TCP_WND (44 * TCP_MSS)
#define TCP_SND_BUF (44 * TCP_MSS)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_QUEUE_OOSEQ 1
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 2
#define LWIP_TCP_TIMESTAMPS 0
#define TCPIP_THREAD_STACKSIZE 32768
#define TCPIP_MBOX_SIZE 512
#define DEFAULT_THREAD_STACKSIZE 32768
#define DEFAULT_RAW_RECVMBOX_SIZE 64
#define DEFAULT_UDP_RECVMBOX_SIZE 64
#define DEFAULT_TCP_RECVMBOX_SIZE 128
#define DEFAULT_ACCEPTMBOX_SIZE 16
#define LWIP_CHECKSUM_ON_COPY 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_TCP 1
#define CHECKSUM_CHECK_UDP 1

/* Debian's lwip package makes sockets.c ask the port how a sockaddr's length
 * is kept (its own port uses the host's headers); lwIP's sockaddr has sa_len. */
#define IP4ADDR_SOCKADDR_SET_LEN(sin) ((sin)->sin_len = sizeof(struct sockaddr_in))
#define IP6ADDR_SOCKADDR_SET_LEN(sin6) ((sin6)->sin6_len = sizeof(struct sockaddr_in6))
#define IPADDR_SOCKADDR_GET_LEN(addr) ((addr)->sa.sa_len)

#define LWIP_HOOK_FILENAME "fwnet_hooks.h"
#define LWIP_HOOK_TCP_ISN fwnet_tcp_isn

#endif
