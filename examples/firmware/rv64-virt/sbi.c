/*
 * The SBI as the seed's firmware uses it: legacy v0.1 calls only (extension
 * id in a7, argument in a0, result in a0), plus the timed WFI built on the
 * legacy timer.
 */
#include "amp.h"

long sbi_legacy(long ext, long arg0)
{
    register long a0 __asm__("a0") = arg0;
    register long a7 __asm__("a7") = ext;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7) : "memory", "a1");
    return a0;
}

/* Sleep until the SBI timer fires `ticks` from now, or anything else wakes the
 * hart. sie.STIE is set at boot and sstatus.SIE stays 0: the pending timer
 * only ends the WFI, no trap is taken; the next set_timer clears it. */
void sleep_ticks(uint64_t ticks)
{
    sbi_legacy(SBI_LEGACY_SET_TIMER, (long)(rdtime() + ticks));
    __asm__ volatile("wfi");
    wr32(DIAG_SLEEPS, rd32(DIAG_SLEEPS) + 1);
}
