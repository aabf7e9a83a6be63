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
  add_library(${name}_objs OBJECT ${A_SOURCES})
  target_compile_options(${name}_objs PRIVATE ${FWNET_EFI_CFLAGS})
  set(so ${CMAKE_CURRENT_BINARY_DIR}/${name}.so)
  set(efi ${CMAKE_CURRENT_BINARY_DIR}/${name}.efi)
  set(libfiles)
  foreach(l ${A_LIBS})
    list(APPEND libfiles $<TARGET_FILE:${l}>)
  endforeach()
  add_custom_command(
    OUTPUT ${efi}
    COMMAND ${CMAKE_LINKER} -nostdlib -znocombreloc -T ${GNUEFI_LDS} -shared -Bsymbolic
            --no-undefined -L ${GNUEFI_LIBDIR} ${GNUEFI_CRT0} $<TARGET_OBJECTS:${name}_objs>
            --start-group ${libfiles} --end-group -lgnuefi -o ${so}
    COMMAND objcopy -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel -j .rela
            -j .rel.* -j .rela.* -j .reloc --target efi-app-x86_64 --subsystem=10 ${so} ${efi}
    DEPENDS ${name}_objs $<TARGET_OBJECTS:${name}_objs> ${libfiles} ${GNUEFI_LDS}
    COMMAND_EXPAND_LISTS
    COMMENT "Linking EFI application ${name}.efi")
  add_custom_target(${name} ALL DEPENDS ${efi})
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
