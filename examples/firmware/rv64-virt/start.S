/*
 * Entry of the amp demo firmware, in S-mode: SBI HSM hart_start enters here
 * with a0 = hart id and a1 = the opaque value (the boot argument), satp = 0
 * and sstatus.SIE = 0.
 */
    .section .text.start, "ax"
    .globl _start
_start:
    csrw    sie, zero
    csrw    sip, zero
    csrw    satp, zero
    li      t0, 0x6000              /* sstatus.FS: no FPU use, keep it off */
    csrc    sstatus, t0
    la      t0, trap_entry
    csrw    stvec, t0
.option push
.option norelax
    la      gp, __global_pointer$
.option pop
    la      sp, __stack_top
    mv      s0, a0
    mv      s1, a1
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  la      t0, __trace_start
    la      t1, __trace_end
3:  bgeu    t0, t1, 4f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       3b
4:  mv      a0, s0
    mv      a1, s1
    call    fw_main
5:  wfi
    j       5b

/* Any trap (interrupts stay off globally, so an exception): report it and park. */
    .balign 4
trap_entry:
    la      sp, __stack_top
    csrr    a0, scause
    csrr    a1, sepc
    csrr    a2, stval
    call    fw_trap
6:  wfi
    j       6b
