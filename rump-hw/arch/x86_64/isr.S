/* Interrupt and exception entry. Every vector pushes an error code (0 when
 * the CPU gives none) and its number, so one frame layout serves all; the
 * common path saves the caller-saved registers and calls bmk_trap(frame). */
  .text
.macro VEC n, err
  .globl bmk_vec\n
bmk_vec\n:
  .if \err == 0
  pushq $0
  .endif
  pushq $\n
  jmp trap_common
.endm

VEC 0,0
VEC 1,0
VEC 2,0
VEC 3,0
VEC 4,0
VEC 5,0
VEC 6,0
VEC 7,0
VEC 8,1
VEC 9,0
VEC 10,1
VEC 11,1
VEC 12,1
VEC 13,1
VEC 14,1
VEC 15,0
VEC 16,0
VEC 17,1
VEC 18,0
VEC 19,0
VEC 20,0
VEC 21,1
VEC 22,0
VEC 23,0
VEC 24,0
VEC 25,0
VEC 26,0
VEC 27,0
VEC 28,0
VEC 29,1
VEC 30,1
VEC 31,0
.irp n, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
VEC \n,0
.endr

trap_common:
  pushq %rax
  pushq %rcx
  pushq %rdx
  pushq %rsi
  pushq %rdi
  pushq %r8
  pushq %r9
  pushq %r10
  pushq %r11
  cld
  movq %rsp, %rdi            /* 9 regs + vec + err + 5 CPU words: rsp 16-aligned */
  call bmk_trap
  popq %r11
  popq %r10
  popq %r9
  popq %r8
  popq %rdi
  popq %rsi
  popq %rdx
  popq %rcx
  popq %rax
  addq $16, %rsp             /* vector, error code */
  iretq

  .section .rodata
  .globl bmk_vectors
  .align 8
bmk_vectors:
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
  .quad bmk_vec\n
.endr
  .section .note.GNU-stack,"",@progbits
