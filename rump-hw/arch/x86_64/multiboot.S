/* Entry from a multiboot v1 loader (QEMU -kernel, GRUB): 32-bit protected
 * mode, paging off, EAX = magic, EBX = info. We build page tables, enter long
 * mode and call bmk_boot(magic, info) on the boot stack.
 *
 * The header uses the "a.out kludge" address fields (flag 16): QEMU refuses
 * 64-bit ELF multiboot files, but with these fields it loads the file as a
 * flat image at load_addr, whatever its format. */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS ((1 << 0) | (1 << 1) | (1 << 16)) /* page align, mem info, addresses */

  .section .multiboot, "a"
  .align 4
mb_header:
  .long MB_MAGIC
  .long MB_FLAGS
  .long -(MB_MAGIC + MB_FLAGS)
  .long mb_header           /* header_addr */
  .long _image_start        /* load_addr */
  .long _edata              /* load_end_addr */
  .long _end                /* bss_end_addr */
  .long _start32            /* entry_addr */

  .section .bss
  .align 4096
pml4:   .skip 4096
pdpt:   .skip 4096
pd:     .skip 4096 * 4      /* 4 GiB in 2 MiB pages */
pt0:    .skip 4096          /* the first 2 MiB in 4 KiB pages, page 0 absent */
  .align 16
boot_stack: .skip 65536
boot_stack_top:

  .section .data
  .align 16
gdt64:
  .quad 0
  .quad 0x00209a0000000000  /* 0x08: 64-bit code */
  .quad 0x0000920000000000  /* 0x10: data */
gdt64_end:
gdt64_ptr:
  .word gdt64_end - gdt64 - 1
  .quad gdt64

  .section .text.boot, "ax"
  .code32
  .globl _start32
_start32:
  cli
  movl $boot_stack_top, %esp
  movl %eax, %edi            /* kept for bmk_boot(magic, info) */
  movl %ebx, %esi

  /* PML4[0] -> PDPT; PDPT[0..3] -> PD[0..3] */
  movl $pdpt, %eax
  orl $0x3, %eax
  movl %eax, pml4
  movl $pd, %eax
  orl $0x3, %eax
  movl $pdpt, %ebx
  movl $4, %ecx
1:movl %eax, (%ebx)
  addl $4096, %eax
  addl $8, %ebx
  loop 1b

  /* PD: 2048 entries of 2 MiB, present|write|large; the top GiB (MMIO:
   * PCI BARs, APIC) uncached. */
  xorl %eax, %eax
  movl $pd, %ebx
  xorl %ecx, %ecx
2:movl %ecx, %eax
  shll $21, %eax
  orl $0x83, %eax
  cmpl $1536, %ecx
  jb 3f
  orl $0x18, %eax            /* PCD|PWT */
3:movl %eax, (%ebx,%ecx,8)
  movl %ecx, %edx
  shrl $11, %edx             /* high dword: bits 32+ of the address */
  movl %edx, 4(%ebx,%ecx,8)
  incl %ecx
  cmpl $2048, %ecx
  jb 2b
  /* PD[0] -> pt0: 4 KiB pages so that page 0 (NULL) faults */
  movl $pt0, %eax
  orl $0x3, %eax
  movl %eax, pd
  movl $0, pd+4
  movl $pt0, %ebx
  movl $1, %ecx
4:movl %ecx, %eax
  shll $12, %eax
  orl $0x3, %eax
  movl %eax, (%ebx,%ecx,8)
  movl $0, 4(%ebx,%ecx,8)
  incl %ecx
  cmpl $512, %ecx
  jb 4b

  movl %cr4, %eax
  orl $(1 << 5), %eax        /* PAE */
  movl %eax, %cr4
  movl $pml4, %eax
  movl %eax, %cr3
  movl $0xC0000080, %ecx     /* EFER */
  rdmsr
  orl $(1 << 8), %eax        /* LME */
  wrmsr
  movl %cr0, %eax
  orl $0x80010001, %eax      /* PG | WP | PE */
  movl %eax, %cr0
  lgdt gdt64_ptr
  ljmp $0x08, $_start64

  .code64
_start64:
  movw $0x10, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  xorw %ax, %ax
  movw %ax, %fs
  movw %ax, %gs
  movq $boot_stack_top, %rsp
  xorq %rbp, %rbp
  /* edi, esi still hold magic and info (zero-extended by the 32-bit moves) */
  movl %edi, %edi
  movl %esi, %esi
  call bmk_boot
5:cli
  hlt
  jmp 5b
  .section .note.GNU-stack,"",@progbits
