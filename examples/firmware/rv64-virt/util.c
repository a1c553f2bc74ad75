/* The few C library functions the firmware (and GCC's code generation) needs. */
#include "amp.h"

typedef uint64_t __attribute__((may_alias)) word_t;

/* Eight bytes at a time when both ends are 8-byte aligned (rpmsg buffers
 * are), then the tail byte by byte. */
void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *dp = d;
    const uint8_t *sp = s;
    if ((((uintptr_t)dp | (uintptr_t)sp) & 7u) == 0)
        for (; n >= 8; n -= 8, dp += 8, sp += 8) *(word_t *)dp = *(const word_t *)sp;
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

int streq(const char *a, const char *b)
{
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}
