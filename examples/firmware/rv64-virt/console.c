/*
 * The console: output through SBI console_putchar, input polled with SBI
 * console_getchar (the seed's firmware has no other way to its UART), and a
 * small printf for it and the trace.
 */
#include "amp.h"

void con_putc(char c) { sbi_legacy(SBI_LEGACY_CONSOLE_PUTCHAR, (uint8_t)c); }

void con_puts(const char *s)
{
    while (*s) con_putc(*s++);
}

void con_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(con_putc, fmt, ap);
    va_end(ap);
}

static uint64_t last_poll;
unsigned con_rounds;

int con_poll(int now)
{
    uint64_t t = rdtime();
    if (!now && t - last_poll < CON_POLL_TICKS) return -1;
    last_poll = t;
    long c = sbi_legacy(SBI_LEGACY_CONSOLE_GETCHAR, 0);
    return c < 0 ? -1 : (int)(c & 0xff);
}

static void put_num(void (*put)(char), uint64_t v, unsigned base, int neg)
{
    char tmp[24];
    int n = 0;
    if (neg) put('-');
    do {
        unsigned d = (unsigned)(v % base);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    while (n) put(tmp[--n]);
}

void vformat(void (*put)(char), const char *fmt, va_list ap)
{
    for (const char *p = fmt; *p; p++) {
        if (*p != '%' || !p[1]) {
            put(*p);
            continue;
        }
        p++;
        int is_long = 0;
        if (*p == 'l' && p[1]) {
            is_long = 1;
            p++;
        }
        switch (*p) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            for (size_t i = 0; i < 64 && s[i]; i++) put(s[i]);
            break;
        }
        case 'c':
            put((char)va_arg(ap, int));
            break;
        case 'u':
            put_num(put, is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, 0);
            break;
        case 'd': {
            long v = is_long ? va_arg(ap, long) : va_arg(ap, int);
            put_num(put, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 10, v < 0);
            break;
        }
        case 'x':
            put('0');
            put('x');
            put_num(put, is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, 0);
            break;
        default:
            put(*p);
        }
    }
}
