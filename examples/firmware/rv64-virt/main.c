/* amp demo firmware: boot, diagnostics, idle policy, unexpected traps. */
#include "amp.h"

#define FW_VERSION "2.0"

/* Idle policy: spin for 20 ms after the last activity, then sleep in a timed
 * WFI for 100 us at a time; after 1 s without activity, 1 ms at a time. */
#define IDLE_SPIN (20u * TICKS_PER_MS)
#define IDLE_LONG (1000u * TICKS_PER_MS)
#define SLEEP_SHORT (TICKS_PER_MS / 10u)
#define SLEEP_LONG TICKS_PER_MS

/* The custom legacy SBI call the seed's image makes at boot (its SD card
 * driver): a standard SBI has no such extension and must fail it cleanly. */
#define SBI_CUSTOM_SDCARD 10

uint32_t diag_last_ping;
unsigned idle_spins;
int idle_busy;
static uint64_t last_activity;

void set_state(enum fw_state s) { wr32(DIAG_STATE, (uint32_t)s); }

void idle_check(void)
{
    idle_spins = 0;
    uint64_t now = rdtime();
    if (idle_busy) {
        idle_busy = 0;
        last_activity = now;
        return;
    }
    uint64_t idle = now - last_activity;
    if (idle > IDLE_LONG)
        sleep_ticks(SLEEP_LONG);
    else if (idle > IDLE_SPIN)
        sleep_ticks(SLEEP_SHORT);
}

void fw_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    wr64(DIAG_SCAUSE, cause);
    wr64(DIAG_SEPC, epc);
    wr64(DIAG_STVAL, tval);
    wr32(DIAG_TRAPPED, 1);
    set_state(FW_BROKEN);
    trace("trap: scause %lx sepc %lx stval %lx; stopped", cause, epc, tval);
    con_printf("\nunexpected trap: scause %lx sepc %lx stval %lx; firmware stopped\n", cause,
               epc, tval);
}

void fw_main(uint64_t hartid, uint64_t arg)
{
    wr32(DIAG_MAGIC, 0);
    set_state(FW_SHELL);
    wr32(DIAG_APP, APP_NONE);
    wr32(DIAG_TRAPPED, 0);
    wr32(DIAG_HART, (uint32_t)hartid);
    wr32(DIAG_STARTS, 0);
    __asm__ volatile("csrs sie, %0" ::"r"(0x20ul)); /* STIE: WFI wakes on the SBI timer */
    int trace_console = (uint32_t)(arg >> 32) == ARG_MAGIC && (arg & ARG_TRACE_CONSOLE);
    trace_init(trace_console);
    trace("amp demo firmware %s on hart %lu, arg %lx", FW_VERSION, hartid, arg);

    con_printf("\namp demo firmware %s: S-mode on hart %lu, SBI console\n", FW_VERSION, hartid);
    con_puts("demos: rpmsg_echo rpmsg_update matrix_multiplyd shmem_demod (type help)\n");
    /* Probe the seed's custom SD card call; without it there is no file system. */
    long err = sbi_legacy(SBI_CUSTOM_SDCARD, 0);
    if (err != 0) {
        con_printf("sdcard: SBI call %d failed (error %ld)\n", SBI_CUSTOM_SDCARD, err);
        con_puts("Error mounting rootfs\n");
        trace("sbi: custom call %d failed with %ld; no file system", SBI_CUSTOM_SDCARD, err);
    } else {
        con_printf("sdcard: SBI call %d answered 0 (ignored)\n", SBI_CUSTOM_SDCARD);
    }

    diag_last_ping = rd32(DIAG_PING);
    wr32(DIAG_PONG, diag_last_ping);
    last_activity = rdtime();
    shell_run();
}
