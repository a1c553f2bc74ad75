/*
 * The trace buffer named by the RSC_TRACE entry: a ring of text. Each line is
 * "[n] message\n"; the byte after the newest character is always NUL, so a
 * reader that starts right after that NUL and wraps reads oldest to newest.
 */
#include <stdarg.h>

#include "amp.h"

__attribute__((section(".trace"), aligned(16))) char trace_buf[TRACE_LEN];

static uint32_t pos;
static uint32_t lines;
static int to_uart;

static void uart_putc(char c)
{
    while (!(rd8(UART0 + 5) & 0x20)) {
    }
    wr8(UART0, (uint8_t)c);
}

static void put(char c)
{
    trace_buf[pos] = c;
    pos = (pos + 1) % (TRACE_LEN - 1);
    trace_buf[pos] = 0;
    if (to_uart) {
        if (c == '\n') uart_putc('\r');
        uart_putc(c);
    }
}

static void put_str(const char *s, size_t max)
{
    for (size_t i = 0; i < max && s[i]; i++) put(s[i]);
}

static void put_num(uint64_t v, unsigned base, int neg)
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

void trace_init(int uart)
{
    to_uart = uart;
    pos = 0;
    lines = 0;
    memset(trace_buf, 0, TRACE_LEN);
}

void trace(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put('[');
    put_num(lines++, 10, 0);
    put(']');
    put(' ');
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
        case 's':
            put_str(va_arg(ap, const char *), 64);
            break;
        case 'u':
            put_num(is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, 0);
            break;
        case 'd': {
            long v = is_long ? va_arg(ap, long) : va_arg(ap, int);
            put_num(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 10, v < 0);
            break;
        }
        case 'x':
            put('0');
            put('x');
            put_num(is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, 0);
            break;
        default:
            put(*p);
        }
    }
    put('\n');
    va_end(ap);
}
