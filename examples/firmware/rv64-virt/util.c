/* The few C library functions the firmware (and GCC's code generation) needs. */
#include "amp.h"

void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;
    while (n--) *dp++ = *sp++;
    return d;
}

void *memset(void *d, int c, size_t n)
{
    uint8_t *dp = d;
    while (n--) *dp++ = (uint8_t)c;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y) return *x < *y ? -1 : 1;
    return 0;
}

size_t strnlen(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n]) n++;
    return n;
}

void sleep_ticks(uint64_t ticks)
{
    uint64_t hart;
    __asm__ volatile("csrr %0, mhartid" : "=r"(hart));
    uintptr_t cmp = CLINT_MTIMECMP + 8u * hart;
    wr64(cmp, mtime() + ticks);
    __asm__ volatile("csrs mie, %0" ::"r"(0x80ul)); /* MTIE: WFI wakes on the timer */
    __asm__ volatile("wfi");
    wr64(cmp, ~0ull);
    wr32(DIAG_SLEEPS_ADDR, rd32(DIAG_SLEEPS_ADDR) + 1);
}
