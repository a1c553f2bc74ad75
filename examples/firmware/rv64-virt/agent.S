/*
 * amp SBI agent: an S-mode payload for QEMU riscv64 "virt" with OpenSBI
 * (-bios default -kernel agent.bin). It is the host's hand inside the guest:
 * hart 0 runs it and starts other harts through SBI HSM hart_start when the
 * host asks, the way a Linux kernel module would on the seed system.
 *
 * Boot: OpenSBI enters the payload in S-mode on the hart that won its boot
 * lottery (a0 = hart id, a1 = device tree). A hart other than 0 hands over:
 * HSM hart_start(0, _start, HANDOVER_TAG << 32 | its id), then HSM hart_stop
 * on itself. Every other hart stays in HSM STOPPED until the host asks.
 *
 * Mailbox at MBOX (guest physical 0x80400000, outside the image: QEMU
 * re-copies the image at every reset, the mailbox survives). Layout in
 * README.md and lib/qemu/agent.ts:
 *   +0x00 u32 magic        AGENT_MAGIC once the agent loop runs on hart 0
 *   +0x04 u32 agent hart   +0x08 u32 boots   +0x0C u32 hart entered first
 *   +0x10 u32 SBI spec version  +0x14 impl id  +0x18 impl version
 *   +0x1C u32 1 if the HSM extension is present
 *   +0x40 u32 req_seq (host, written last)  +0x44 u32 op (1 = hart_start)
 *   +0x48 u32 hart  +0x50 u64 entry  +0x58 u64 opaque
 *   +0x60 u64 load_start  +0x68 u64 load_len
 *   +0x80 u32 ack_seq  +0x84 i32 SBI error
 *   +0x100 + 16 h (h = 0..7): u32 HSM state (0xFFFFFFFF if the call
 *   failed), u32 SBI error, u32 refresh count, u32 reserved
 *
 * Before it reports ready, hart 0 starts every other STOPPED hart once into
 * a bare HSM hart_stop: OpenSBI 1.1 (QEMU 7.2's) leaves the cold-boot wake-up
 * IPI pending on harts that wait in HSM STOPPED, so their WFI returns at once
 * and each spins a host core; one start/stop round clears it.
 *
 * Registers only, no stack, no data: nothing in the image is written.
 */

#define MBOX            0x80400000
#define AGENT_MAGIC     0x544e4741 /* "AGNT" */
#define HANDOVER_TAG    0x41474e54 /* upper half of a1 when handed over */
#define MAX_HARTS       8

#define M_MAGIC         0x00
#define M_AGENT_HART    0x04
#define M_BOOTS         0x08
#define M_FIRST_HART    0x0c
#define M_SPEC_VERSION  0x10
#define M_IMPL_ID       0x14
#define M_IMPL_VERSION  0x18
#define M_HAS_HSM       0x1c
#define M_REQ_SEQ       0x40
#define M_OP            0x44
#define M_HART          0x48
#define M_ENTRY         0x50
#define M_OPAQUE        0x58
#define M_LOAD_START    0x60
#define M_LOAD_LEN      0x68
#define M_ACK_SEQ       0x80
#define M_ERROR         0x84
#define M_STATUS        0x100

#define OP_HART_START   1

#define SBI_EXT_BASE    0x10
#define SBI_EXT_HSM     0x48534d
#define SBI_EXT_LEGACY_SET_TIMER 0
#define SBI_ERR_NOT_SUPPORTED (-2)
#define SBI_ERR_ALREADY_AVAILABLE (-6)

/* Idle policy, in 10 MHz timebase ticks: spin 20 ms after a request, then
   sleep 1 ms at a time in a timed WFI. */
#define SPIN_TICKS      200000
#define SLEEP_TICKS     10000
#define SIE_STIE        0x20
#define HSM_STOPPED     1
#define SETTLE_TRIES    100000      /* bounded wait for a hart to settle in STOPPED */

    .section .text.agent, "ax"
    .globl _start
_start:
    csrw    sie, zero
    mv      s0, a0                  /* s0 = this hart */
    srli    t0, a1, 32
    li      t1, HANDOVER_TAG
    beq     t0, t1, .Lhanded_over
    mv      s1, a0                  /* s1 = hart OpenSBI entered first */
    beqz    s0, .Lagent
    /* Not hart 0: start hart 0 here, then stop this hart. Hart 0 may not
       have reached HSM STOPPED yet (it is still in OpenSBI's warm boot):
       try again, a bounded number of times, while the error says so. */
    li      s6, SETTLE_TRIES
.Lhandover:
    li      a7, SBI_EXT_HSM
    li      a6, 0                   /* hart_start */
    li      a0, 0
    la      a1, _start
    li      a2, HANDOVER_TAG
    slli    a2, a2, 32
    or      a2, a2, s0
    ecall
    beqz    a0, .Lhanded
    li      t0, SBI_ERR_ALREADY_AVAILABLE
    beq     a0, t0, .Lhanded        /* hart 0 runs already (it serves): just stop */
    li      t0, SBI_ERR_NOT_SUPPORTED
    beq     a0, t0, .Lagent         /* no HSM: serve from here */
    addi    s6, s6, -1
    bnez    s6, .Lhandover
    j       .Lagent                 /* hart 0 never became startable: serve from here */
.Lhanded:
    li      a7, SBI_EXT_HSM
    li      a6, 1                   /* hart_stop: does not return on success */
    ecall
.Lpark:
    wfi
    j       .Lpark

.Lhanded_over:
    slli    s1, a1, 32
    srli    s1, s1, 32

.Lagent:
    li      s2, MBOX
    lw      t0, M_BOOTS(s2)
    addi    t0, t0, 1
    sw      t0, M_BOOTS(s2)
    sw      s0, M_AGENT_HART(s2)
    sw      s1, M_FIRST_HART(s2)

    li      a7, SBI_EXT_BASE
    li      a6, 0                   /* get_spec_version */
    ecall
    sw      a1, M_SPEC_VERSION(s2)
    li      a6, 1                   /* get_impl_id */
    ecall
    sw      a1, M_IMPL_ID(s2)
    li      a6, 2                   /* get_impl_version */
    ecall
    sw      a1, M_IMPL_VERSION(s2)
    li      a6, 3                   /* probe_extension(HSM) */
    li      a0, SBI_EXT_HSM
    ecall
    snez    t0, a1
    sw      t0, M_HAS_HSM(s2)

    /* Cycle every other hart that waits in STOPPED once (see the top). */
    li      s5, 0
.Lsettle:
    beq     s5, s0, .Lsettled
    li      s6, SETTLE_TRIES
1:  mv      a0, s5
    call    hart_status
    bnez    a0, .Lsettled           /* no such hart */
    li      t0, HSM_STOPPED
    beq     a1, t0, 2f
    addi    s6, s6, -1
    bnez    s6, 1b
    j       .Lsettled               /* never settled: leave it */
2:  li      a7, SBI_EXT_HSM
    li      a6, 0                   /* hart_start(h, stop_self, 0) */
    mv      a0, s5
    la      a1, stop_self
    li      a2, 0
    ecall
    bnez    a0, .Lsettled
    li      s6, SETTLE_TRIES
3:  mv      a0, s5
    call    hart_status
    li      t0, HSM_STOPPED
    beq     a1, t0, .Lsettled
    addi    s6, s6, -1
    bnez    s6, 3b
.Lsettled:
    addi    s5, s5, 1
    li      t0, MAX_HARTS
    bltu    s5, t0, .Lsettle

    /* A request left from before the reset is not served: ack it as seen. */
    lw      s3, M_REQ_SEQ(s2)       /* s3 = last request handled */
    sw      s3, M_ACK_SEQ(s2)
    li      t0, SIE_STIE
    csrs    sie, t0                 /* WFI wakes on the SBI timer (sstatus.SIE stays 0) */
    call    refresh
    fence   rw, w
    li      t0, AGENT_MAGIC
    sw      t0, M_MAGIC(s2)
    rdtime  s4                      /* s4 = time of the last activity */

.Lloop:
    lw      t0, M_REQ_SEQ(s2)
    bne     t0, s3, .Lrequest
    call    refresh
    rdtime  t0
    sub     t0, t0, s4
    li      t1, SPIN_TICKS
    bltu    t0, t1, .Lloop
    /* Idle: sleep until the timer, 1 ms from now. */
    rdtime  a0
    li      t1, SLEEP_TICKS
    add     a0, a0, t1
    li      a7, SBI_EXT_LEGACY_SET_TIMER
    ecall
    wfi
    j       .Lloop

.Lrequest:
    fence   r, rw
    mv      s3, t0
    lw      t0, M_OP(s2)
    li      t1, OP_HART_START
    li      a0, SBI_ERR_NOT_SUPPORTED
    bne     t0, t1, .Lanswer
    /* Re-write the loaded range from inside the guest, so QEMU drops code it
       translated from what was there before (it does not see host writes). */
    ld      t0, M_LOAD_START(s2)
    ld      t1, M_LOAD_LEN(s2)
    andi    t2, t0, 7
    sub     t0, t0, t2
    add     t1, t1, t2
    addi    t1, t1, 7
    srli    t1, t1, 3
1:  beqz    t1, 2f
    ld      t2, 0(t0)
    sd      t2, 0(t0)
    addi    t0, t0, 8
    addi    t1, t1, -1
    j       1b
2:  fence   rw, rw
    fence.i
    lwu     a0, M_HART(s2)
    ld      a1, M_ENTRY(s2)
    ld      a2, M_OPAQUE(s2)
    li      a7, SBI_EXT_HSM
    li      a6, 0                   /* hart_start */
    ecall
.Lanswer:
    sw      a0, M_ERROR(s2)
    fence   rw, w
    sw      s3, M_ACK_SEQ(s2)
    rdtime  s4
    j       .Lloop

/* A hart started only to stop again: HSM hart_stop does not return. */
stop_self:
    li      a7, SBI_EXT_HSM
    li      a6, 1                   /* hart_stop */
    ecall
4:  wfi
    j       4b

/* a0 = hart: HSM hart_get_status -> a0 = error, a1 = state. Uses a6, a7. */
hart_status:
    li      a7, SBI_EXT_HSM
    li      a6, 2
    ecall
    ret

/* Status table: HSM hart_get_status of harts 0..MAX_HARTS-1. Uses t0-t2,
   a0, a1, a6, a7; SBI calls preserve everything but a0 and a1. */
refresh:
    li      t0, 0
    addi    t1, s2, M_STATUS
    li      a7, SBI_EXT_HSM
    li      a6, 2                   /* hart_get_status */
5:  mv      a0, t0
    ecall
    beqz    a0, 6f
    li      a1, -1
6:  sw      a1, 0(t1)
    sw      a0, 4(t1)
    lw      t2, 8(t1)
    addi    t2, t2, 1
    sw      t2, 8(t1)
    addi    t0, t0, 1
    addi    t1, t1, 16
    li      t2, MAX_HARTS
    bltu    t0, t2, 5b
    ret
