/* UEFI base types, status codes, and the system/boot-services tables.
 *
 * Written from the UEFI 2.x specification. One header serves every build:
 * freestanding x86_64 and ia32 EFI (gnu-efi's crt0 and linker script, no
 * libefi) and the host, where the fakes implement these tables. EFIAPI is
 * ms_abi on x86_64 in both, so efi-net calls firmware the same way on the
 * host as on OVMF; on ia32 the UEFI calling convention is plain cdecl
 * (UEFI 2.x, 2.3.2), the compiler's default, and UINTN and pointers are
 * 32-bit. Layouts must match the spec exactly: real firmware reads them.
 */
#ifndef FWNET_UEFI_H
#define FWNET_UEFI_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)
#define EFIAPI __attribute__((ms_abi))
#elif defined(__i386__)
#define EFIAPI __attribute__((cdecl)) /* the default; stated: never regparm */
#else
#define EFIAPI /* other hosts (the fakes only): no firmware to call */
#endif

typedef uint8_t BOOLEAN;
typedef intptr_t INTN;
typedef uintptr_t UINTN;
typedef int8_t INT8;
typedef uint8_t UINT8;
typedef int16_t INT16;
typedef uint16_t UINT16;
typedef int32_t INT32;
typedef uint32_t UINT32;
typedef int64_t INT64;
typedef uint64_t UINT64;
typedef char CHAR8;
typedef uint16_t CHAR16; /* UCS-2; write literals as u"..." */
typedef void VOID;
typedef UINTN EFI_STATUS;
typedef VOID *EFI_HANDLE;
typedef VOID *EFI_EVENT;
typedef UINTN EFI_TPL;
typedef UINT64 EFI_PHYSICAL_ADDRESS;

#define TRUE ((BOOLEAN)1)
#define FALSE ((BOOLEAN)0)

typedef struct {
  UINT32 Data1;
  UINT16 Data2;
  UINT16 Data3;
  UINT8 Data4[8];
} EFI_GUID;

typedef struct {
  UINT8 Addr[4];
} EFI_IPv4_ADDRESS;

typedef struct {
  UINT8 Addr[32];
} EFI_MAC_ADDRESS;

typedef struct {
  UINT16 Year;
  UINT8 Month, Day, Hour, Minute, Second, Pad1;
  UINT32 Nanosecond;
  INT16 TimeZone;
  UINT8 Daylight, Pad2;
} EFI_TIME;

/* ---- status codes ---- */
#define EFI_ERROR_BIT ((UINTN)1 << (sizeof(UINTN) * 8 - 1))
#define EFIERR(n) (EFI_ERROR_BIT | (UINTN)(n))
#define EFI_ERROR(s) (((INTN)(s)) < 0)

#define EFI_SUCCESS 0
#define EFI_LOAD_ERROR EFIERR(1)
#define EFI_INVALID_PARAMETER EFIERR(2)
#define EFI_UNSUPPORTED EFIERR(3)
#define EFI_BAD_BUFFER_SIZE EFIERR(4)
#define EFI_BUFFER_TOO_SMALL EFIERR(5)
#define EFI_NOT_READY EFIERR(6)
#define EFI_DEVICE_ERROR EFIERR(7)
#define EFI_WRITE_PROTECTED EFIERR(8)
#define EFI_OUT_OF_RESOURCES EFIERR(9)
#define EFI_VOLUME_CORRUPTED EFIERR(10)
#define EFI_VOLUME_FULL EFIERR(11)
#define EFI_NO_MEDIA EFIERR(12)
#define EFI_MEDIA_CHANGED EFIERR(13)
#define EFI_NOT_FOUND EFIERR(14)
#define EFI_ACCESS_DENIED EFIERR(15)
#define EFI_NO_RESPONSE EFIERR(16)
#define EFI_NO_MAPPING EFIERR(17)
#define EFI_TIMEOUT EFIERR(18)
#define EFI_NOT_STARTED EFIERR(19)
#define EFI_ALREADY_STARTED EFIERR(20)
#define EFI_ABORTED EFIERR(21)
#define EFI_ICMP_ERROR EFIERR(22)
#define EFI_TFTP_ERROR EFIERR(23)
#define EFI_PROTOCOL_ERROR EFIERR(24)
#define EFI_INCOMPATIBLE_VERSION EFIERR(25)
#define EFI_SECURITY_VIOLATION EFIERR(26)
#define EFI_CRC_ERROR EFIERR(27)
#define EFI_END_OF_MEDIA EFIERR(28)
#define EFI_END_OF_FILE EFIERR(31)
#define EFI_INVALID_LANGUAGE EFIERR(32)
#define EFI_COMPROMISED_DATA EFIERR(33)
#define EFI_IP_ADDRESS_CONFLICT EFIERR(34)
#define EFI_HTTP_ERROR EFIERR(35)
#define EFI_NETWORK_UNREACHABLE EFIERR(100)
#define EFI_HOST_UNREACHABLE EFIERR(101)
#define EFI_PROTOCOL_UNREACHABLE EFIERR(102)
#define EFI_PORT_UNREACHABLE EFIERR(103)
#define EFI_CONNECTION_FIN EFIERR(104)
#define EFI_CONNECTION_RESET EFIERR(105)
#define EFI_CONNECTION_REFUSED EFIERR(106)

/* ---- TPL and events ---- */
#define TPL_APPLICATION 4
#define TPL_CALLBACK 8
#define TPL_NOTIFY 16
#define TPL_HIGH_LEVEL 31

#define EVT_TIMER 0x80000000u
#define EVT_RUNTIME 0x40000000u
#define EVT_NOTIFY_WAIT 0x00000100u
#define EVT_NOTIFY_SIGNAL 0x00000200u
#define EVT_SIGNAL_EXIT_BOOT_SERVICES 0x00000201u

typedef VOID(EFIAPI *EFI_EVENT_NOTIFY)(EFI_EVENT Event, VOID *Context);

typedef enum { TimerCancel, TimerPeriodic, TimerRelative } EFI_TIMER_DELAY;

typedef enum {
  AllocateAnyPages,
  AllocateMaxAddress,
  AllocateAddress,
  MaxAllocateType
} EFI_ALLOCATE_TYPE;

typedef enum {
  EfiReservedMemoryType,
  EfiLoaderCode,
  EfiLoaderData,
  EfiBootServicesCode,
  EfiBootServicesData,
  EfiRuntimeServicesCode,
  EfiRuntimeServicesData,
  EfiConventionalMemory,
  EfiUnusableMemory,
  EfiACPIReclaimMemory,
  EfiACPIMemoryNVS,
  EfiMemoryMappedIO,
  EfiMemoryMappedIOPortSpace,
  EfiPalCode,
  EfiPersistentMemory,
  EfiMaxMemoryType
} EFI_MEMORY_TYPE;

typedef enum { EFI_NATIVE_INTERFACE } EFI_INTERFACE_TYPE;
typedef enum { AllHandles, ByRegisterNotify, ByProtocol } EFI_LOCATE_SEARCH_TYPE;

#define EFI_OPEN_PROTOCOL_BY_HANDLE_PROTOCOL 0x00000001u
#define EFI_OPEN_PROTOCOL_GET_PROTOCOL 0x00000002u
#define EFI_OPEN_PROTOCOL_TEST_PROTOCOL 0x00000004u
#define EFI_OPEN_PROTOCOL_BY_CHILD_CONTROLLER 0x00000008u
#define EFI_OPEN_PROTOCOL_BY_DRIVER 0x00000010u
#define EFI_OPEN_PROTOCOL_EXCLUSIVE 0x00000020u

typedef struct {
  UINT64 Signature;
  UINT32 Revision;
  UINT32 HeaderSize;
  UINT32 CRC32;
  UINT32 Reserved;
} EFI_TABLE_HEADER;

typedef struct {
  EFI_HANDLE AgentHandle;
  EFI_HANDLE ControllerHandle;
  UINT32 Attributes;
  UINT32 OpenCount;
} EFI_OPEN_PROTOCOL_INFORMATION_ENTRY;

typedef VOID *EFI_UNUSED_FN; /* slots efi-net never calls; kept for layout */

typedef struct EFI_BOOT_SERVICES {
  EFI_TABLE_HEADER Hdr;
  EFI_TPL(EFIAPI *RaiseTPL)(EFI_TPL NewTpl);
  VOID(EFIAPI *RestoreTPL)(EFI_TPL OldTpl);
  EFI_UNUSED_FN AllocatePages;
  EFI_UNUSED_FN FreePages;
  EFI_UNUSED_FN GetMemoryMap;
  EFI_STATUS(EFIAPI *AllocatePool)(EFI_MEMORY_TYPE PoolType, UINTN Size, VOID **Buffer);
  EFI_STATUS(EFIAPI *FreePool)(VOID *Buffer);
  EFI_STATUS(EFIAPI *CreateEvent)(UINT32 Type, EFI_TPL NotifyTpl, EFI_EVENT_NOTIFY NotifyFunction,
                                  VOID *NotifyContext, EFI_EVENT *Event);
  EFI_STATUS(EFIAPI *SetTimer)(EFI_EVENT Event, EFI_TIMER_DELAY Type, UINT64 TriggerTime);
  EFI_STATUS(EFIAPI *WaitForEvent)(UINTN NumberOfEvents, EFI_EVENT *Event, UINTN *Index);
  EFI_STATUS(EFIAPI *SignalEvent)(EFI_EVENT Event);
  EFI_STATUS(EFIAPI *CloseEvent)(EFI_EVENT Event);
  EFI_STATUS(EFIAPI *CheckEvent)(EFI_EVENT Event);
  EFI_STATUS(EFIAPI *InstallProtocolInterface)(EFI_HANDLE *Handle, EFI_GUID *Protocol,
                                               EFI_INTERFACE_TYPE InterfaceType, VOID *Interface);
  EFI_STATUS(EFIAPI *ReinstallProtocolInterface)(EFI_HANDLE Handle, EFI_GUID *Protocol,
                                                 VOID *OldInterface, VOID *NewInterface);
  EFI_STATUS(EFIAPI *UninstallProtocolInterface)(EFI_HANDLE Handle, EFI_GUID *Protocol,
                                                 VOID *Interface);
  EFI_STATUS(EFIAPI *HandleProtocol)(EFI_HANDLE Handle, EFI_GUID *Protocol, VOID **Interface);
  VOID *Reserved;
  EFI_UNUSED_FN RegisterProtocolNotify;
  EFI_STATUS(EFIAPI *LocateHandle)(EFI_LOCATE_SEARCH_TYPE SearchType, EFI_GUID *Protocol,
                                   VOID *SearchKey, UINTN *BufferSize, EFI_HANDLE *Buffer);
  EFI_UNUSED_FN LocateDevicePath;
  EFI_UNUSED_FN InstallConfigurationTable;
  EFI_UNUSED_FN LoadImage;
  EFI_UNUSED_FN StartImage;
  EFI_UNUSED_FN Exit;
  EFI_UNUSED_FN UnloadImage;
  EFI_UNUSED_FN ExitBootServices;
  EFI_STATUS(EFIAPI *GetNextMonotonicCount)(UINT64 *Count);
  EFI_STATUS(EFIAPI *Stall)(UINTN Microseconds);
  EFI_STATUS(EFIAPI *SetWatchdogTimer)(UINTN Timeout, UINT64 WatchdogCode, UINTN DataSize,
                                       CHAR16 *WatchdogData);
  EFI_STATUS(EFIAPI *ConnectController)(EFI_HANDLE ControllerHandle, EFI_HANDLE *DriverImageHandle,
                                        VOID *RemainingDevicePath, BOOLEAN Recursive);
  EFI_UNUSED_FN DisconnectController;
  EFI_STATUS(EFIAPI *OpenProtocol)(EFI_HANDLE Handle, EFI_GUID *Protocol, VOID **Interface,
                                   EFI_HANDLE AgentHandle, EFI_HANDLE ControllerHandle,
                                   UINT32 Attributes);
  EFI_STATUS(EFIAPI *CloseProtocol)(EFI_HANDLE Handle, EFI_GUID *Protocol, EFI_HANDLE AgentHandle,
                                    EFI_HANDLE ControllerHandle);
  EFI_UNUSED_FN OpenProtocolInformation;
  EFI_UNUSED_FN ProtocolsPerHandle;
  EFI_STATUS(EFIAPI *LocateHandleBuffer)(EFI_LOCATE_SEARCH_TYPE SearchType, EFI_GUID *Protocol,
                                         VOID *SearchKey, UINTN *NoHandles, EFI_HANDLE **Buffer);
  EFI_STATUS(EFIAPI *LocateProtocol)(EFI_GUID *Protocol, VOID *Registration, VOID **Interface);
  EFI_UNUSED_FN InstallMultipleProtocolInterfaces;
  EFI_UNUSED_FN UninstallMultipleProtocolInterfaces;
  EFI_UNUSED_FN CalculateCrc32;
  EFI_UNUSED_FN CopyMem;
  EFI_UNUSED_FN SetMem;
  EFI_STATUS(EFIAPI *CreateEventEx)(UINT32 Type, EFI_TPL NotifyTpl, EFI_EVENT_NOTIFY NotifyFunction,
                                    const VOID *NotifyContext, const EFI_GUID *EventGroup,
                                    EFI_EVENT *Event);
} EFI_BOOT_SERVICES;

typedef struct EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL;
struct EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL {
  EFI_STATUS(EFIAPI *Reset)(EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This, BOOLEAN Extended);
  EFI_STATUS(EFIAPI *OutputString)(EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *This, CHAR16 *String);
  EFI_UNUSED_FN TestString, QueryMode, SetMode, SetAttribute, ClearScreen, SetCursorPosition,
      EnableCursor;
  VOID *Mode;
};

typedef struct {
  EFI_GUID VendorGuid;
  VOID *VendorTable;
} EFI_CONFIGURATION_TABLE;

typedef struct {
  EFI_TABLE_HEADER Hdr;
  CHAR16 *FirmwareVendor;
  UINT32 FirmwareRevision;
  EFI_HANDLE ConsoleInHandle;
  VOID *ConIn;
  EFI_HANDLE ConsoleOutHandle;
  EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *ConOut;
  EFI_HANDLE StandardErrorHandle;
  EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL *StdErr;
  VOID *RuntimeServices;
  EFI_BOOT_SERVICES *BootServices;
  UINTN NumberOfTableEntries;
  EFI_CONFIGURATION_TABLE *ConfigurationTable;
} EFI_SYSTEM_TABLE;

#define EFI_SYSTEM_TABLE_SIGNATURE 0x5453595320494249ULL
#define EFI_BOOT_SERVICES_SIGNATURE 0x56524553544f4f42ULL

/* Compile-time checks of the offsets real firmware relies on, per
 * architecture: the table header is 24 bytes on both, then every entry is a
 * pointer (8 bytes on x86_64, 4 on ia32). */
_Static_assert(sizeof(EFI_TABLE_HEADER) == 24, "table header");
_Static_assert(sizeof(UINTN) == sizeof(VOID *), "UINTN is pointer sized");
#if defined(__x86_64__)
_Static_assert(sizeof(UINTN) == 8, "UINTN x86_64");
_Static_assert(offsetof(EFI_BOOT_SERVICES, CreateEvent) == 0x50, "BS.CreateEvent");
_Static_assert(offsetof(EFI_BOOT_SERVICES, HandleProtocol) == 0x98, "BS.HandleProtocol");
_Static_assert(offsetof(EFI_BOOT_SERVICES, Stall) == 0xF8, "BS.Stall");
_Static_assert(offsetof(EFI_BOOT_SERVICES, OpenProtocol) == 0x118, "BS.OpenProtocol");
_Static_assert(offsetof(EFI_BOOT_SERVICES, LocateHandleBuffer) == 0x138, "BS.LocateHandleBuffer");
_Static_assert(offsetof(EFI_BOOT_SERVICES, CreateEventEx) == 0x170, "BS.CreateEventEx");
_Static_assert(offsetof(EFI_SYSTEM_TABLE, BootServices) == 0x60, "ST.BootServices");
_Static_assert(offsetof(EFI_SYSTEM_TABLE, ConfigurationTable) == 0x70, "ST.ConfigurationTable");
_Static_assert(sizeof(EFI_CONFIGURATION_TABLE) == 24, "configuration table entry");
#elif defined(__i386__)
_Static_assert(sizeof(UINTN) == 4, "UINTN ia32");
_Static_assert(offsetof(EFI_BOOT_SERVICES, CreateEvent) == 0x34, "BS.CreateEvent");
_Static_assert(offsetof(EFI_BOOT_SERVICES, HandleProtocol) == 0x58, "BS.HandleProtocol");
_Static_assert(offsetof(EFI_BOOT_SERVICES, Stall) == 0x88, "BS.Stall");
_Static_assert(offsetof(EFI_BOOT_SERVICES, OpenProtocol) == 0x98, "BS.OpenProtocol");
_Static_assert(offsetof(EFI_BOOT_SERVICES, LocateHandleBuffer) == 0xA8, "BS.LocateHandleBuffer");
_Static_assert(offsetof(EFI_BOOT_SERVICES, CreateEventEx) == 0xC4, "BS.CreateEventEx");
_Static_assert(offsetof(EFI_SYSTEM_TABLE, BootServices) == 0x3C, "ST.BootServices");
_Static_assert(offsetof(EFI_SYSTEM_TABLE, ConfigurationTable) == 0x44, "ST.ConfigurationTable");
_Static_assert(sizeof(EFI_CONFIGURATION_TABLE) == 20, "configuration table entry");
#endif

#endif
