/*
 * The trace buffer named by the RSC_TRACE entry: a ring of text. Each line is
 * "[n] message\n"; the byte after the newest character is always NUL, so a
 * reader that starts right after that NUL and wraps reads oldest to newest.
 * Optionally mirrored to the console.
 */
#include "amp.h"

__attribute__((section(".trace"), aligned(16))) char trace_buf[TRACE_LEN];

static uint32_t pos;
static uint32_t lines;
static int to_console;

static void put(char c)
{
    trace_buf[pos] = c;
    pos = (pos + 1) % (TRACE_LEN - 1);
    trace_buf[pos] = 0;
    if (to_console) con_putc(c);
}

void trace_init(int console)
{
    to_console = console;
    pos = 0;
    lines = 0;
    memset(trace_buf, 0, TRACE_LEN);
}

static void put_line_number(void)
{
    char tmp[12];
    int n = 0;
    uint32_t v = lines++;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put('[');
    while (n) put(tmp[--n]);
    put(']');
    put(' ');
}

void trace(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (to_console) con_puts("trace: ");
    put_line_number();
    vformat(put, fmt, ap);
    put('\n');
    va_end(ap);
}
