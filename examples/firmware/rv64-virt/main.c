/* amp demo firmware: main loop. */
#include "amp.h"

/* Idle policy: spin for 20 ms after the last activity, then sleep in a timed
 * WFI for 100 us at a time; after 1 s without activity, 1 ms at a time. */
#define IDLE_SPIN (20u * TICKS_PER_MS)
#define IDLE_LONG (1000u * TICKS_PER_MS)
#define SLEEP_SHORT (TICKS_PER_MS / 10u)
#define SLEEP_LONG TICKS_PER_MS

static uint32_t last_ping;

static int diag_poll(void)
{
    uint32_t p = rd32(DIAG_PING_ADDR);
    if (p == last_ping) return 0;
    last_ping = p;
    wr32(DIAG_PONG_ADDR, p);
    return 1;
}

void fw_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    trace("trap: mcause %lx mepc %lx mtval %lx; stopped", cause, epc, tval);
    wr32(DIAG_STATE_ADDR, FW_BROKEN);
}

void fw_main(uint64_t hartid, uint64_t arg)
{
    wr32(DIAG_MAGIC_ADDR, 0);
    wr32(DIAG_STATE_ADDR, FW_BOOT);
    trace_init((uint32_t)(arg >> 32) == ARG_MAGIC && (arg & ARG_UART));
    trace("amp demo firmware on hart %lu, arg %lx", hartid, arg);
    memcpy((void *)RSC_SHM_ADDR, resource_table_ptr, resource_table_size);
    fence_release();
    last_ping = rd32(DIAG_PING_ADDR);
    wr32(DIAG_PONG_ADDR, last_ping);
    services_init(arg);
    trace("resource table at %lx; waiting for DRIVER_OK", RSC_SHM_ADDR);
    wr32(DIAG_STATE_ADDR, FW_WAIT_DRIVER_OK);
    fence_release();
    wr32(DIAG_MAGIC_ADDR, DIAG_MAGIC);

    uint64_t last_activity = mtime();
    unsigned spins = 0;
    for (;;) {
        int did = diag_poll();
        did |= shmdemo_poll();
        did |= rpmsg_poll();
        if (did) {
            spins = 0;
            last_activity = mtime();
        } else if (++spins >= 256) {
            spins = 0;
            uint64_t idle = mtime() - last_activity;
            if (idle > IDLE_LONG)
                sleep_ticks(SLEEP_LONG);
            else if (idle > IDLE_SPIN)
                sleep_ticks(SLEEP_SHORT);
        }
    }
}
