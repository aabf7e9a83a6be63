/* UEFI network protocols used by efi-net: service binding, TCP4, UDP4,
 * IP4_CONFIG2, the legacy IP4_CONFIG, DNS4, and RNG (for resolver IDs).
 * Written from the UEFI 2.x specification; layouts must match it exactly.
 */
#ifndef FWNET_UEFI_NET_H
#define FWNET_UEFI_NET_H

#include "uefi.h"

#define EFI_TCP4_SERVICE_BINDING_PROTOCOL_GUID \
  {0x00720665, 0x67eb, 0x4a99, {0xba, 0xf7, 0xd3, 0xc3, 0x3a, 0x1c, 0x7c, 0xc9}}
#define EFI_TCP4_PROTOCOL_GUID \
  {0x65530bc7, 0xa359, 0x410f, {0xb0, 0x10, 0x5a, 0xad, 0xc7, 0xec, 0x2b, 0x62}}
#define EFI_UDP4_SERVICE_BINDING_PROTOCOL_GUID \
  {0x83f01464, 0x99bd, 0x45e5, {0xb3, 0x83, 0xaf, 0x63, 0x05, 0xd8, 0xe9, 0xe6}}
#define EFI_UDP4_PROTOCOL_GUID \
  {0x3ad9df29, 0x4501, 0x478d, {0xb1, 0xf8, 0x7f, 0x7f, 0xe7, 0x0e, 0x50, 0xf3}}
#define EFI_IP4_CONFIG2_PROTOCOL_GUID \
  {0x5b446ed1, 0xe30b, 0x4faa, {0x87, 0x1a, 0x36, 0x54, 0xec, 0xa3, 0x60, 0x80}}
#define EFI_IP4_CONFIG_PROTOCOL_GUID \
  {0x3b95aa31, 0x3793, 0x434b, {0x86, 0x67, 0xc8, 0x07, 0x08, 0x92, 0xe0, 0x5e}}
#define EFI_DNS4_SERVICE_BINDING_PROTOCOL_GUID \
  {0xb625b186, 0xe063, 0x44f7, {0x89, 0x05, 0x6a, 0x74, 0xdc, 0x6f, 0x52, 0xb4}}
#define EFI_DNS4_PROTOCOL_GUID \
  {0xae3d28cc, 0xe05b, 0x4fa1, {0xa0, 0x11, 0x7e, 0xb5, 0x5a, 0x3f, 0x14, 0x01}}
#define EFI_RNG_PROTOCOL_GUID \
  {0x3152bca5, 0xeade, 0x433d, {0x86, 0x2e, 0xc0, 0x1c, 0xdc, 0x29, 0x1f, 0x44}}
/* Firmware identity (the agent's fwinfo): SMBIOS entry points in the
 * configuration table (UEFI 2.x, 4.6), the NIC's SNP and its driver. */
#define SMBIOS_TABLE_GUID \
  {0xeb9d2d31, 0x2d88, 0x11d3, {0x9a, 0x16, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d}}
#define SMBIOS3_TABLE_GUID \
  {0xf2fd1544, 0x9794, 0x4a2c, {0x99, 0x2e, 0xe5, 0xbb, 0xcf, 0x20, 0xe3, 0x94}}
#define EFI_SIMPLE_NETWORK_PROTOCOL_GUID \
  {0xa19832b9, 0xac25, 0x11d3, {0x9a, 0x2d, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d}}
#define EFI_DRIVER_BINDING_PROTOCOL_GUID \
  {0x18a031ab, 0xb443, 0x4d1a, {0xa5, 0xc0, 0x0c, 0x09, 0x26, 0x1e, 0x9f, 0x71}}
#define EFI_COMPONENT_NAME2_PROTOCOL_GUID \
  {0x6a7a5cff, 0xe8d9, 0x4f70, {0xba, 0xda, 0x75, 0xab, 0x30, 0x25, 0xce, 0x14}}
/* The agent's channel to the harness (UEFI 2.x, 12.8): the serial port
 * itself, once the terminal driver no longer polls it. */
#define EFI_SERIAL_IO_PROTOCOL_GUID \
  {0xbb25cf6f, 0xf1d4, 0x11d2, {0x9a, 0x0c, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0xfd}}

/* Each GUID as an object, defined once (fwbase/src/guids.c). Not const: the
 * boot-services interfaces take EFI_GUID * (UEFI 2.x, 7.3). */
extern EFI_GUID efi_tcp4_sb_guid, efi_tcp4_guid;
extern EFI_GUID efi_udp4_sb_guid, efi_udp4_guid;
extern EFI_GUID efi_dns4_sb_guid, efi_dns4_guid;
extern EFI_GUID efi_ip4cfg2_guid, efi_ip4cfg_guid;
extern EFI_GUID efi_rng_guid;
extern EFI_GUID efi_smbios_guid, efi_smbios3_guid, efi_snp_guid, efi_driver_binding_guid, efi_component_name2_guid;
extern EFI_GUID efi_serial_io_guid;

/* ---- serial I/O (UEFI 2.x, 12.8) ---- */
typedef struct {
  UINT32 ControlMask;
  UINT32 Timeout; /* microseconds a Read or Write waits per byte */
  UINT64 BaudRate;
  UINT32 ReceiveFifoDepth;
  UINT32 DataBits;
  UINT32 Parity;
  UINT32 StopBits;
} EFI_SERIAL_IO_MODE;

typedef struct EFI_SERIAL_IO_PROTOCOL EFI_SERIAL_IO_PROTOCOL;
struct EFI_SERIAL_IO_PROTOCOL {
  UINT32 Revision;
  EFI_STATUS(EFIAPI *Reset)(EFI_SERIAL_IO_PROTOCOL *This);
  EFI_STATUS(EFIAPI *SetAttributes)(EFI_SERIAL_IO_PROTOCOL *This, UINT64 BaudRate, UINT32 ReceiveFifoDepth,
                                    UINT32 Timeout, UINT32 Parity, UINT8 DataBits, UINT32 StopBits);
  EFI_UNUSED_FN SetControl, GetControl;
  EFI_STATUS(EFIAPI *Write)(EFI_SERIAL_IO_PROTOCOL *This, UINTN *BufferSize, VOID *Buffer);
  EFI_STATUS(EFIAPI *Read)(EFI_SERIAL_IO_PROTOCOL *This, UINTN *BufferSize, VOID *Buffer);
  EFI_SERIAL_IO_MODE *Mode;
};

/* ---- service binding ---- */
typedef struct EFI_SERVICE_BINDING_PROTOCOL EFI_SERVICE_BINDING_PROTOCOL;
struct EFI_SERVICE_BINDING_PROTOCOL {
  EFI_STATUS(EFIAPI *CreateChild)(EFI_SERVICE_BINDING_PROTOCOL *This, EFI_HANDLE *ChildHandle);
  EFI_STATUS(EFIAPI *DestroyChild)(EFI_SERVICE_BINDING_PROTOCOL *This, EFI_HANDLE ChildHandle);
};

/* ---- shared IPv4 pieces ---- */
typedef struct {
  EFI_IPv4_ADDRESS SubnetAddress;
  EFI_IPv4_ADDRESS SubnetMask;
  EFI_IPv4_ADDRESS GatewayAddress;
} EFI_IP4_ROUTE_TABLE;

/* Mode data structures efi-net never asks for (it passes NULL). */
typedef struct EFI_IP4_MODE_DATA EFI_IP4_MODE_DATA;
typedef struct EFI_MANAGED_NETWORK_CONFIG_DATA EFI_MANAGED_NETWORK_CONFIG_DATA;
typedef struct EFI_SIMPLE_NETWORK_MODE EFI_SIMPLE_NETWORK_MODE;

/* ---- TCP4 ---- */
typedef struct EFI_TCP4_PROTOCOL EFI_TCP4_PROTOCOL;

typedef struct {
  BOOLEAN UseDefaultAddress;
  EFI_IPv4_ADDRESS StationAddress;
  EFI_IPv4_ADDRESS SubnetMask;
  UINT16 StationPort;
  EFI_IPv4_ADDRESS RemoteAddress;
  UINT16 RemotePort;
  BOOLEAN ActiveFlag;
} EFI_TCP4_ACCESS_POINT;

typedef struct {
  UINT32 ReceiveBufferSize;
  UINT32 SendBufferSize;
  UINT32 MaxSynBackLog;
  UINT32 ConnectionTimeout;
  UINT32 DataRetries;
  UINT32 FinTimeout;
  UINT32 TimeWaitTimeout;
  UINT32 KeepAliveProbes;
  UINT32 KeepAliveTime;
  UINT32 KeepAliveInterval;
  BOOLEAN EnableNagle;
  BOOLEAN EnableTimeStamp;
  BOOLEAN EnableWindowScaling;
  BOOLEAN EnableSelectiveAck;
  BOOLEAN EnablePathMtuDiscovery;
} EFI_TCP4_OPTION;

typedef struct {
  UINT8 TypeOfService;
  UINT8 TimeToLive;
  EFI_TCP4_ACCESS_POINT AccessPoint;
  EFI_TCP4_OPTION *ControlOption;
} EFI_TCP4_CONFIG_DATA;

typedef enum {
  Tcp4StateClosed = 0,
  Tcp4StateListen = 1,
  Tcp4StateSynSent = 2,
  Tcp4StateSynReceived = 3,
  Tcp4StateEstablished = 4,
  Tcp4StateFinWait1 = 5,
  Tcp4StateFinWait2 = 6,
  Tcp4StateClosing = 7,
  Tcp4StateTimeWait = 8,
  Tcp4StateCloseWait = 9,
  Tcp4StateLastAck = 10
} EFI_TCP4_CONNECTION_STATE;

typedef struct {
  EFI_EVENT Event;
  EFI_STATUS Status;
} EFI_TCP4_COMPLETION_TOKEN;

typedef struct {
  EFI_TCP4_COMPLETION_TOKEN CompletionToken;
} EFI_TCP4_CONNECTION_TOKEN;

typedef struct {
  EFI_TCP4_COMPLETION_TOKEN CompletionToken;
  EFI_HANDLE NewChildHandle;
} EFI_TCP4_LISTEN_TOKEN;

typedef struct {
  UINT32 FragmentLength;
  VOID *FragmentBuffer;
} EFI_TCP4_FRAGMENT_DATA;

typedef struct {
  BOOLEAN UrgentFlag;
  UINT32 DataLength;
  UINT32 FragmentCount;
  EFI_TCP4_FRAGMENT_DATA FragmentTable[1];
} EFI_TCP4_RECEIVE_DATA;

typedef struct {
  BOOLEAN Push;
  BOOLEAN Urgent;
  UINT32 DataLength;
  UINT32 FragmentCount;
  EFI_TCP4_FRAGMENT_DATA FragmentTable[1];
} EFI_TCP4_TRANSMIT_DATA;

typedef struct {
  EFI_TCP4_COMPLETION_TOKEN CompletionToken;
  union {
    EFI_TCP4_RECEIVE_DATA *RxData;
    EFI_TCP4_TRANSMIT_DATA *TxData;
  } Packet;
} EFI_TCP4_IO_TOKEN;

typedef struct {
  EFI_TCP4_COMPLETION_TOKEN CompletionToken;
  BOOLEAN AbortOnClose;
} EFI_TCP4_CLOSE_TOKEN;

struct EFI_TCP4_PROTOCOL {
  EFI_STATUS(EFIAPI *GetModeData)(EFI_TCP4_PROTOCOL *This, EFI_TCP4_CONNECTION_STATE *Tcp4State,
                                  EFI_TCP4_CONFIG_DATA *Tcp4ConfigData,
                                  EFI_IP4_MODE_DATA *Ip4ModeData,
                                  EFI_MANAGED_NETWORK_CONFIG_DATA *MnpConfigData,
                                  EFI_SIMPLE_NETWORK_MODE *SnpModeData);
  EFI_STATUS(EFIAPI *Configure)(EFI_TCP4_PROTOCOL *This, EFI_TCP4_CONFIG_DATA *TcpConfigData);
  EFI_STATUS(EFIAPI *Routes)(EFI_TCP4_PROTOCOL *This, BOOLEAN DeleteRoute,
                             EFI_IPv4_ADDRESS *SubnetAddress, EFI_IPv4_ADDRESS *SubnetMask,
                             EFI_IPv4_ADDRESS *GatewayAddress);
  EFI_STATUS(EFIAPI *Connect)(EFI_TCP4_PROTOCOL *This, EFI_TCP4_CONNECTION_TOKEN *ConnectionToken);
  EFI_STATUS(EFIAPI *Accept)(EFI_TCP4_PROTOCOL *This, EFI_TCP4_LISTEN_TOKEN *ListenToken);
  EFI_STATUS(EFIAPI *Transmit)(EFI_TCP4_PROTOCOL *This, EFI_TCP4_IO_TOKEN *Token);
  EFI_STATUS(EFIAPI *Receive)(EFI_TCP4_PROTOCOL *This, EFI_TCP4_IO_TOKEN *Token);
  EFI_STATUS(EFIAPI *Close)(EFI_TCP4_PROTOCOL *This, EFI_TCP4_CLOSE_TOKEN *CloseToken);
  EFI_STATUS(EFIAPI *Cancel)(EFI_TCP4_PROTOCOL *This, EFI_TCP4_COMPLETION_TOKEN *Token);
  EFI_STATUS(EFIAPI *Poll)(EFI_TCP4_PROTOCOL *This);
};

/* ---- UDP4 ---- */
typedef struct EFI_UDP4_PROTOCOL EFI_UDP4_PROTOCOL;

typedef struct {
  BOOLEAN AcceptBroadcast;
  BOOLEAN AcceptPromiscuous;
  BOOLEAN AcceptAnyPort;
  BOOLEAN AllowDuplicatePort;
  UINT8 TypeOfService;
  UINT8 TimeToLive;
  BOOLEAN DoNotFragment;
  UINT32 ReceiveTimeout;
  UINT32 TransmitTimeout;
  BOOLEAN UseDefaultAddress;
  EFI_IPv4_ADDRESS StationAddress;
  EFI_IPv4_ADDRESS SubnetMask;
  UINT16 StationPort;
  EFI_IPv4_ADDRESS RemoteAddress;
  UINT16 RemotePort;
} EFI_UDP4_CONFIG_DATA;

typedef struct {
  EFI_IPv4_ADDRESS SourceAddress;
  UINT16 SourcePort;
  EFI_IPv4_ADDRESS DestinationAddress;
  UINT16 DestinationPort;
} EFI_UDP4_SESSION_DATA;

typedef struct {
  UINT32 FragmentLength;
  VOID *FragmentBuffer;
} EFI_UDP4_FRAGMENT_DATA;

typedef struct {
  EFI_TIME TimeStamp;
  EFI_EVENT RecycleSignal;
  EFI_UDP4_SESSION_DATA UdpSession;
  UINT32 DataLength;
  UINT32 FragmentCount;
  EFI_UDP4_FRAGMENT_DATA FragmentTable[1];
} EFI_UDP4_RECEIVE_DATA;

typedef struct {
  EFI_UDP4_SESSION_DATA *UdpSessionData;
  EFI_IPv4_ADDRESS *GatewayAddress;
  UINT32 DataLength;
  UINT32 FragmentCount;
  EFI_UDP4_FRAGMENT_DATA FragmentTable[1];
} EFI_UDP4_TRANSMIT_DATA;

typedef struct {
  EFI_EVENT Event;
  EFI_STATUS Status;
  union {
    EFI_UDP4_RECEIVE_DATA *RxData;
    EFI_UDP4_TRANSMIT_DATA *TxData;
  } Packet;
} EFI_UDP4_COMPLETION_TOKEN;

struct EFI_UDP4_PROTOCOL {
  EFI_STATUS(EFIAPI *GetModeData)(EFI_UDP4_PROTOCOL *This, EFI_UDP4_CONFIG_DATA *Udp4ConfigData,
                                  EFI_IP4_MODE_DATA *Ip4ModeData,
                                  EFI_MANAGED_NETWORK_CONFIG_DATA *MnpConfigData,
                                  EFI_SIMPLE_NETWORK_MODE *SnpModeData);
  EFI_STATUS(EFIAPI *Configure)(EFI_UDP4_PROTOCOL *This, EFI_UDP4_CONFIG_DATA *UdpConfigData);
  EFI_STATUS(EFIAPI *Groups)(EFI_UDP4_PROTOCOL *This, BOOLEAN JoinFlag,
                             EFI_IPv4_ADDRESS *MulticastAddress);
  EFI_STATUS(EFIAPI *Routes)(EFI_UDP4_PROTOCOL *This, BOOLEAN DeleteRoute,
                             EFI_IPv4_ADDRESS *SubnetAddress, EFI_IPv4_ADDRESS *SubnetMask,
                             EFI_IPv4_ADDRESS *GatewayAddress);
  EFI_STATUS(EFIAPI *Transmit)(EFI_UDP4_PROTOCOL *This, EFI_UDP4_COMPLETION_TOKEN *Token);
  EFI_STATUS(EFIAPI *Receive)(EFI_UDP4_PROTOCOL *This, EFI_UDP4_COMPLETION_TOKEN *Token);
  EFI_STATUS(EFIAPI *Cancel)(EFI_UDP4_PROTOCOL *This, EFI_UDP4_COMPLETION_TOKEN *Token);
  EFI_STATUS(EFIAPI *Poll)(EFI_UDP4_PROTOCOL *This);
};

/* ---- IP4_CONFIG2 ---- */
typedef struct EFI_IP4_CONFIG2_PROTOCOL EFI_IP4_CONFIG2_PROTOCOL;

typedef enum {
  Ip4Config2DataTypeInterfaceInfo,
  Ip4Config2DataTypePolicy,
  Ip4Config2DataTypeManualAddress,
  Ip4Config2DataTypeGateway,
  Ip4Config2DataTypeDnsServer,
  Ip4Config2DataTypeMaximum
} EFI_IP4_CONFIG2_DATA_TYPE;

typedef enum { Ip4Config2PolicyStatic, Ip4Config2PolicyDhcp, Ip4Config2PolicyMax } EFI_IP4_CONFIG2_POLICY;

#define EFI_IP4_CONFIG2_INTERFACE_INFO_NAME_SIZE 32
typedef struct {
  CHAR16 Name[EFI_IP4_CONFIG2_INTERFACE_INFO_NAME_SIZE];
  UINT8 IfType;
  UINT32 HwAddressSize;
  EFI_MAC_ADDRESS HwAddress;
  EFI_IPv4_ADDRESS StationAddress;
  EFI_IPv4_ADDRESS SubnetMask;
  UINT32 RouteTableSize;
  EFI_IP4_ROUTE_TABLE *RouteTable;
} EFI_IP4_CONFIG2_INTERFACE_INFO;

typedef struct {
  EFI_IPv4_ADDRESS Address;
  EFI_IPv4_ADDRESS SubnetMask;
} EFI_IP4_CONFIG2_MANUAL_ADDRESS;

struct EFI_IP4_CONFIG2_PROTOCOL {
  EFI_STATUS(EFIAPI *SetData)(EFI_IP4_CONFIG2_PROTOCOL *This, EFI_IP4_CONFIG2_DATA_TYPE DataType,
                              UINTN DataSize, VOID *Data);
  EFI_STATUS(EFIAPI *GetData)(EFI_IP4_CONFIG2_PROTOCOL *This, EFI_IP4_CONFIG2_DATA_TYPE DataType,
                              UINTN *DataSize, VOID *Data);
  EFI_STATUS(EFIAPI *RegisterDataNotify)(EFI_IP4_CONFIG2_PROTOCOL *This,
                                         EFI_IP4_CONFIG2_DATA_TYPE DataType, EFI_EVENT Event);
  EFI_STATUS(EFIAPI *UnregisterDataNotify)(EFI_IP4_CONFIG2_PROTOCOL *This,
                                           EFI_IP4_CONFIG2_DATA_TYPE DataType, EFI_EVENT Event);
};

/* ---- legacy IP4_CONFIG (UEFI 2.0 - 2.4; dropped from current EDK2) ---- */
typedef struct EFI_IP4_CONFIG_PROTOCOL EFI_IP4_CONFIG_PROTOCOL;

typedef struct {
  EFI_IPv4_ADDRESS StationAddress;
  EFI_IPv4_ADDRESS SubnetMask;
  UINT32 RouteTableSize;
  EFI_IP4_ROUTE_TABLE *RouteTable;
} EFI_IP4_IPCONFIG_DATA;

struct EFI_IP4_CONFIG_PROTOCOL {
  EFI_STATUS(EFIAPI *Start)(EFI_IP4_CONFIG_PROTOCOL *This, EFI_EVENT DoneEvent,
                            EFI_EVENT ReconfigSignal);
  EFI_STATUS(EFIAPI *Stop)(EFI_IP4_CONFIG_PROTOCOL *This);
  EFI_STATUS(EFIAPI *GetData)(EFI_IP4_CONFIG_PROTOCOL *This, UINTN *IpConfigDataSize,
                              EFI_IP4_IPCONFIG_DATA *IpConfigData);
};

/* ---- DNS4 ---- */
typedef struct EFI_DNS4_PROTOCOL EFI_DNS4_PROTOCOL;

typedef struct {
  UINTN DnsServerListCount;
  EFI_IPv4_ADDRESS *DnsServerList;
  BOOLEAN UseDefaultSetting;
  BOOLEAN EnableDnsCache;
  UINT8 Protocol;
  EFI_IPv4_ADDRESS StationIp;
  EFI_IPv4_ADDRESS SubnetMask;
  UINT16 LocalPort;
  UINT32 RetryCount;
  UINT32 RetryInterval;
} EFI_DNS4_CONFIG_DATA;

typedef struct {
  CHAR16 *HostName;
  EFI_IPv4_ADDRESS *IpAddress;
  UINT32 Timeout;
} EFI_DNS4_CACHE_ENTRY;

typedef struct {
  EFI_DNS4_CONFIG_DATA DnsConfigData;
  UINT32 DnsServerCount;
  EFI_IPv4_ADDRESS *DnsServerList;
  UINT32 DnsCacheCount;
  EFI_DNS4_CACHE_ENTRY *DnsCacheList;
} EFI_DNS4_MODE_DATA;

typedef struct {
  UINT32 IpCount;
  EFI_IPv4_ADDRESS *IpList;
} DNS_HOST_TO_ADDR_DATA;

typedef struct {
  CHAR16 *HostName;
} DNS_ADDR_TO_HOST_DATA;

typedef struct DNS_GENERAL_LOOKUP_DATA DNS_GENERAL_LOOKUP_DATA;

typedef struct {
  EFI_EVENT Event;
  EFI_STATUS Status;
  UINT32 RetryCount;
  UINT32 RetryInterval;
  union {
    DNS_HOST_TO_ADDR_DATA *H2AData;
    DNS_ADDR_TO_HOST_DATA *A2HData;
    DNS_GENERAL_LOOKUP_DATA *GLookupData;
  } RspData;
} EFI_DNS4_COMPLETION_TOKEN;

struct EFI_DNS4_PROTOCOL {
  EFI_STATUS(EFIAPI *GetModeData)(EFI_DNS4_PROTOCOL *This, EFI_DNS4_MODE_DATA *DnsModeData);
  EFI_STATUS(EFIAPI *Configure)(EFI_DNS4_PROTOCOL *This, EFI_DNS4_CONFIG_DATA *DnsConfigData);
  EFI_STATUS(EFIAPI *HostNameToIp)(EFI_DNS4_PROTOCOL *This, CHAR16 *HostName,
                                   EFI_DNS4_COMPLETION_TOKEN *Token);
  EFI_STATUS(EFIAPI *IpToHostName)(EFI_DNS4_PROTOCOL *This, EFI_IPv4_ADDRESS IpAddress,
                                   EFI_DNS4_COMPLETION_TOKEN *Token);
  EFI_UNUSED_FN GeneralLookUp;
  EFI_UNUSED_FN UpdateDnsCache;
  EFI_STATUS(EFIAPI *Poll)(EFI_DNS4_PROTOCOL *This);
  EFI_STATUS(EFIAPI *Cancel)(EFI_DNS4_PROTOCOL *This, EFI_DNS4_COMPLETION_TOKEN *Token);
};

/* ---- RNG (optional; seeds resolver transaction ids and ports) ---- */
typedef struct EFI_RNG_PROTOCOL EFI_RNG_PROTOCOL;
struct EFI_RNG_PROTOCOL {
  EFI_UNUSED_FN GetInfo;
  EFI_STATUS(EFIAPI *GetRNG)(EFI_RNG_PROTOCOL *This, EFI_GUID *Algorithm, UINTN ValueLength,
                             UINT8 *Value);
};

/* Layouts per architecture: pointers (and UINTN) are 8 bytes on x86_64 and
 * 4 on ia32; what holds no pointer is the same on both. */
_Static_assert(sizeof(EFI_TCP4_ACCESS_POINT) == 20, "TCP4 access point");
_Static_assert(offsetof(EFI_UDP4_RECEIVE_DATA, RecycleSignal) == 16, "UDP4 rx RecycleSignal");
_Static_assert(offsetof(EFI_IP4_CONFIG2_INTERFACE_INFO, StationAddress) == 104, "IfInfo.Station");
#if defined(__x86_64__)
_Static_assert(sizeof(EFI_TCP4_CONFIG_DATA) == 32, "TCP4 config data");
_Static_assert(offsetof(EFI_TCP4_PROTOCOL, Poll) == 72, "TCP4.Poll");
_Static_assert(offsetof(EFI_DNS4_PROTOCOL, Cancel) == 56, "DNS4.Cancel");
#elif defined(__i386__)
_Static_assert(sizeof(EFI_TCP4_CONFIG_DATA) == 28, "TCP4 config data");
_Static_assert(offsetof(EFI_TCP4_PROTOCOL, Poll) == 36, "TCP4.Poll");
_Static_assert(offsetof(EFI_DNS4_PROTOCOL, Cancel) == 28, "DNS4.Cancel");
#endif

#endif
