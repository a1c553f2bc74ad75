/*
 * amp boot stub for the QEMU riscv64 "virt" board (run with -bios none).
 *
 * QEMU's reset ROM at 0x1000 jumps every hart to 0x80000000 (start of RAM)
 * with a0 = hart id and a1 = device tree address. The host writes this stub
 * at RAM file offset 0 before QEMU starts. Each hart parks on its own
 * mailbox and sleeps with a timed WFI (CLINT timer, about 1 ms) between
 * checks; when the host posts GO it re-writes the loaded range from inside
 * the guest (QEMU does not notice code written from outside, so stale
 * translated code would run otherwise), executes fence.i and jumps to the
 * entry with a0 = hart id, a1 = arg.
 *
 * Mailbox of hart h: MBOX_BASE + h * 64 (see README.md), fields:
 *   +0x00 u64 entry      host
 *   +0x08 u64 arg        host
 *   +0x10 u64 load_start host (range re-written before the jump)
 *   +0x18 u64 load_len   host (0: nothing to re-write)
 *   +0x20 u32 go         host writes GO_MAGIC last; the stub clears it
 *   +0x24 u32 state      stub: PARKED when waiting, RUNNING once it jumps
 *   +0x28 u32 boots      stub: incremented at every reset
 *   +0x2c u32 hartid     stub: its hart id
 */

#define MBOX_BASE     0x80001000
#define MBOX_SHIFT    6
#define MAX_HARTS     8
#define GO_MAGIC      0x474f474f /* "GOGO" */
#define ST_PARKED     0x4b524150 /* "PARK" */
#define ST_RUNNING    0x204e5552 /* "RUN " */
#define CLINT_CMP     0x02004000
#define CLINT_MTIME   0x0200bff8
#define WAIT_TICKS    10000      /* 1 ms at the virt board's 10 MHz timer */

    .section .text.stub, "ax"
    .globl _stub
_stub:
    csrw    mie, zero
    csrw    mstatus, zero
    csrr    s0, mhartid
    li      t0, MAX_HARTS
    bgeu    s0, t0, .Lhalt          /* no mailbox for this hart: sleep forever */
    li      s1, MBOX_BASE
    slli    t0, s0, MBOX_SHIFT
    add     s1, s1, t0              /* s1 = this hart's mailbox */
    sw      s0, 0x2c(s1)
    lw      t0, 0x28(s1)
    addi    t0, t0, 1
    sw      t0, 0x28(s1)
    li      t0, ST_PARKED
    sw      t0, 0x24(s1)
    li      t0, 0x80                /* MTIE: lets WFI wake on the timer */
    csrw    mie, t0
    li      s2, CLINT_CMP
    slli    t0, s0, 3
    add     s2, s2, t0              /* s2 = &mtimecmp[hart] */
    li      s3, CLINT_MTIME
    li      s4, GO_MAGIC

.Lpoll:
    lw      t0, 0x20(s1)
    beq     t0, s4, .Lgo
    ld      t0, 0(s3)
    li      t1, WAIT_TICKS
    add     t0, t0, t1
    sd      t0, 0(s2)
    wfi
    j       .Lpoll

.Lgo:
    fence   r, rw
    sw      zero, 0x20(s1)
    ld      t0, 0x10(s1)            /* load_start */
    ld      t1, 0x18(s1)            /* load_len */
    andi    t2, t0, 7
    sub     t0, t0, t2              /* align the start down to 8 */
    add     t1, t1, t2
    addi    t1, t1, 7
    srli    t1, t1, 3               /* number of 8-byte words */
1:  beqz    t1, 2f
    ld      t2, 0(t0)
    sd      t2, 0(t0)
    addi    t0, t0, 8
    addi    t1, t1, -1
    j       1b
2:  li      t0, -1
    sd      t0, 0(s2)               /* timer far away: no pending MTIP for the firmware */
    csrw    mie, zero
    li      t0, ST_RUNNING
    sw      t0, 0x24(s1)
    fence   rw, rw
    fence.i
    ld      t2, 0x00(s1)
    ld      a1, 0x08(s1)
    mv      a0, s0
    jr      t2

.Lhalt:
    wfi
    j       .Lhalt
