/* Cooperative context switch: bmk_ctx_switch(&prev->sp, next->sp) saves the
 * callee-saved registers on the current stack, stores its stack pointer and
 * resumes the next thread the same way. Everything else is caller-saved in
 * the SysV ABI, so the compiler has already saved it. Used on bare metal and
 * by the host build of the scheduler (its unit tests). */
  .text
  .globl bmk_ctx_switch
  .type bmk_ctx_switch, @function
bmk_ctx_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size bmk_ctx_switch, .-bmk_ctx_switch

/* First activation of a thread: its stack was built so that ret lands here
 * with the entry in r12 and the argument in r13. */
  .globl bmk_ctx_trampoline
  .type bmk_ctx_trampoline, @function
bmk_ctx_trampoline:
  movq %r13, %rdi
  callq *%r12
  movq %rax, %rdi
  call bmk_thread_exit_ret
  ud2
  .size bmk_ctx_trampoline, .-bmk_ctx_trampoline
  .section .note.GNU-stack,"",@progbits
