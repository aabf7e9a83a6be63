# Helpers: host targets get strict warnings (and sanitizers when asked);
# EFI targets are freestanding and linked with gnu-efi's crt0 and script;
# bare-metal targets (the rump-hw image) are freestanding with no libc.
# A component that runs in more than one place builds one library per
# flavour from the same sources: NAME (host), NAME_efi, NAME_bm.

set(FWNET_HOST_WARN -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes)
set(FWNET_SAN_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

function(fwnet_host_target tgt)
  target_compile_options(${tgt} PRIVATE ${FWNET_HOST_WARN})
  if(FWNET_SANITIZE)
    target_compile_options(${tgt} PRIVATE ${FWNET_SAN_FLAGS})
    target_link_options(${tgt} PRIVATE ${FWNET_SAN_FLAGS})
  endif()
endfunction()

# gcc turns byte loops into memset/strlen calls through a .plt that gnu-efi's
# objcopy drops; -mno-red-zone because interrupts clobber it.
set(FWNET_EFI_CFLAGS
    -ffreestanding -fno-builtin -fno-stack-protector -fno-stack-check -fpic
    -fno-tree-loop-distribute-patterns -mno-red-zone -fno-strict-aliasing
    -fno-asynchronous-unwind-tables -fno-jump-tables -O2 -g0
    ${FWNET_HOST_WARN})

set(GNUEFI_LIBDIR /usr/lib CACHE PATH "gnu-efi x86_64 library directory")
set(GNUEFI_CRT0 ${GNUEFI_LIBDIR}/crt0-efi-x86_64.o)
set(GNUEFI_LDS ${GNUEFI_LIBDIR}/elf_x86_64_efi.lds)

if(FWNET_EFI AND NOT EXISTS ${GNUEFI_CRT0})
  message(FATAL_ERROR "gnu-efi not found (${GNUEFI_CRT0}); run ci/install-deps.sh or -DFWNET_EFI=OFF")
endif()

function(fwnet_efi_library tgt)
  add_library(${tgt} STATIC ${ARGN})
  # Keep the host's sanitizer/optimisation flags out of freestanding code.
  set_target_properties(${tgt} PROPERTIES COMPILE_OPTIONS "" INTERPROCEDURAL_OPTIMIZATION OFF)
  target_compile_options(${tgt} PRIVATE ${FWNET_EFI_CFLAGS})
endfunction()

# fwnet_efi_app(name SOURCES ... LIBS ...): builds name.efi (PE32+ app).
function(fwnet_efi_app name)
  cmake_parse_arguments(A "" "" "SOURCES;LIBS" ${ARGN})
  _fwnet_efi_link(${name} "${FWNET_EFI_CFLAGS}" "" ${GNUEFI_LIBDIR} ${GNUEFI_CRT0} ${GNUEFI_LDS} efi-app-x86_64
                  SOURCES ${A_SOURCES} LIBS ${A_LIBS})
endfunction()

# The EFI link: objects + libraries with gnu-efi's crt0 and linker script
# into name.so, then objcopy to a PE application of the given target.
function(_fwnet_efi_link name cflags ldflags libdir crt0 lds pe_target)
  cmake_parse_arguments(A "" "" "SOURCES;LIBS" ${ARGN})
  add_library(${name}_objs OBJECT ${A_SOURCES})
  target_compile_options(${name}_objs PRIVATE ${cflags})
  set(so ${CMAKE_CURRENT_BINARY_DIR}/${name}.so)
  set(efi ${CMAKE_CURRENT_BINARY_DIR}/${name}.efi)
  set(libfiles)
  foreach(l ${A_LIBS})
    list(APPEND libfiles $<TARGET_FILE:${l}>)
  endforeach()
  add_custom_command(
    OUTPUT ${efi}
    COMMAND ${CMAKE_LINKER} ${ldflags} -nostdlib -znocombreloc -T ${lds} -shared -Bsymbolic
            --no-undefined -L ${libdir} ${crt0} $<TARGET_OBJECTS:${name}_objs>
            --start-group ${libfiles} --end-group -lgnuefi -o ${so}
    COMMAND objcopy -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel -j .rela
            -j .rel.* -j .rela.* -j .reloc --target ${pe_target} --subsystem=10 ${so} ${efi}
    DEPENDS ${name}_objs $<TARGET_OBJECTS:${name}_objs> ${libfiles} ${lds}
    COMMAND_EXPAND_LISTS
    COMMENT "Linking EFI application ${name}.efi")
  add_custom_target(${name} ALL DEPENDS ${efi})
endfunction()

# ia32 (OVMF32, Debian's ovmf-ia32): a third flavour of the same sources,
# NAME_efi32, and apps as PE32 (fwnet-agent-ia32.efi): -m32, gnu-efi's ia32
# crt0 and linker script (/usr/lib32), EFIAPI plain cdecl (fwnet/uefi.h).
# -malign-double: UINT64 8-byte aligned in structures, as EDK2's IA32
# builds (and the UEFI spec's IA-32 data alignment) have it. No red zone
# exists on ia32; no MMX/SSE (the firmware's state is its own).
set(FWNET_EFI32_CFLAGS
    -m32 -malign-double -mno-mmx -mno-sse
    -ffreestanding -fno-builtin -fno-stack-protector -fno-stack-check -fpic
    -fno-tree-loop-distribute-patterns -fno-strict-aliasing
    -fno-asynchronous-unwind-tables -fno-jump-tables -O2 -g0
    ${FWNET_HOST_WARN})
set(GNUEFI_LIBDIR32 /usr/lib32 CACHE PATH "gnu-efi ia32 library directory")
set(GNUEFI_CRT0_32 ${GNUEFI_LIBDIR32}/crt0-efi-ia32.o)
set(GNUEFI_LDS_32 ${GNUEFI_LIBDIR32}/elf_ia32_efi.lds)
if(FWNET_EFI AND EXISTS ${GNUEFI_CRT0_32} AND EXISTS ${GNUEFI_LDS_32})
  set(FWNET_EFI32 ON)
else()
  set(FWNET_EFI32 OFF)
  if(FWNET_EFI)
    message(STATUS "fwnet: no gnu-efi ia32 (${GNUEFI_CRT0_32}): the ia32 agent is not built")
  endif()
endif()

function(fwnet_efi32_library tgt)
  add_library(${tgt} STATIC ${ARGN})
  set_target_properties(${tgt} PROPERTIES COMPILE_OPTIONS "" INTERPROCEDURAL_OPTIMIZATION OFF)
  target_compile_options(${tgt} PRIVATE ${FWNET_EFI32_CFLAGS})
endfunction()

# fwnet_efi32_app(name SOURCES ... LIBS ...): builds name.efi (PE32 ia32 app).
function(fwnet_efi32_app name)
  cmake_parse_arguments(A "" "" "SOURCES;LIBS" ${ARGN})
  _fwnet_efi_link(${name} "${FWNET_EFI32_CFLAGS}" "-m;elf_i386" ${GNUEFI_LIBDIR32} ${GNUEFI_CRT0_32}
                  ${GNUEFI_LDS_32} efi-app-ia32 SOURCES ${A_SOURCES} LIBS ${A_LIBS})
endfunction()

# Bare metal (rump-hw's multiboot image): freestanding, no red zone
# (interrupts share the stack), no SSE (the trap path does not save it), not
# position independent (linked at 1 MiB). Its libc headers are rump-hw's
# include/libc, its runtime fwbase_bm.
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=include
                OUTPUT_VARIABLE FWNET_GCC_INCLUDE OUTPUT_STRIP_TRAILING_WHITESPACE)
set(FWNET_BM_FLAGS -std=gnu11 -ffreestanding -nostdinc -isystem ${FWNET_GCC_INCLUDE} -O2 -g
    -mno-red-zone -mgeneral-regs-only -fno-pic -fno-pie -fno-stack-protector
    -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -fno-strict-aliasing)

# lwIP comes from Debian's source package, fetched by ci/install-deps.sh
# into build/deps/lwip (or -DFWNET_LWIP_DIR); without it no bare-metal code
# is built.
set(FWNET_LWIP_DIR ${PROJECT_SOURCE_DIR}/build/deps/lwip CACHE PATH "lwIP source tree (Debian's lwip source package)")
if(EXISTS ${FWNET_LWIP_DIR}/src/core/tcp.c)
  set(FWNET_BM ON)
else()
  set(FWNET_BM OFF)
endif()

function(fwnet_bm_library tgt)
  add_library(${tgt} STATIC ${ARGN})
  set_target_properties(${tgt} PROPERTIES COMPILE_OPTIONS "" INTERPROCEDURAL_OPTIMIZATION OFF)
  target_compile_options(${tgt} PRIVATE $<$<COMPILE_LANGUAGE:C>:${FWNET_BM_FLAGS} ${FWNET_HOST_WARN}>)
endfunction()
