/*
 * A small shell on the SBI console, driven like RT-Thread's: the prompt
 * "msh />", typed characters echoed, Backspace/DEL erase, Enter runs the line,
 * Ctrl+C abandons it. Commands live in the .shell_cmds section (SHELL_CMD in
 * amp.h) and run to completion before the prompt comes back; what is typed
 * meanwhile is handled after it.
 */
#include "amp.h"

#define LINE_MAX 64

extern const struct shell_cmd __shell_cmds_start[], __shell_cmds_end[];

static char line[LINE_MAX + 1];
static unsigned len;
static int after_cr; /* swallow the "\n" of a "\r\n" */
static int esc;      /* inside an escape sequence (arrow keys): 1 after ESC, 2 after ESC [ */

/* Input typed while a command ran, handled once it returns (as the seed queues it). */
#define TYPEAHEAD 64u
static char ahead[TYPEAHEAD];
static unsigned ahead_head, ahead_len;

void shell_typeahead(int c)
{
    if (ahead_len == TYPEAHEAD) return; /* full: drop, like a full UART FIFO */
    ahead[(ahead_head + ahead_len++) % TYPEAHEAD] = (char)c;
}

static int next_input(void)
{
    if (ahead_len) {
        int c = (uint8_t)ahead[ahead_head];
        ahead_head = (ahead_head + 1) % TYPEAHEAD;
        ahead_len--;
        return c;
    }
    return con_getc(0);
}

static void prompt(void) { con_puts(SHELL_PROMPT); }

static const struct shell_cmd *find(const char *name)
{
    for (const struct shell_cmd *c = __shell_cmds_start; c < __shell_cmds_end; c++)
        if (streq(c->name, name)) return c;
    return 0;
}

static void execute(void)
{
    con_putc('\n');
    /* The command is the first word; arguments are not used by any command. */
    unsigned s = 0;
    while (s < len && line[s] == ' ') s++;
    unsigned e = s;
    while (e < len && line[e] != ' ') e++;
    line[e] = 0;
    if (e > s) {
        const struct shell_cmd *c = find(line + s);
        if (c) {
            trace("shell: %s", c->name);
            c->fn();
        } else {
            con_printf("%s: command not found.\n", line + s);
        }
    }
    len = 0;
    prompt();
}

static void input(int c)
{
    if (esc == 1) {
        esc = c == '[' ? 2 : 0;
        return;
    }
    if (esc == 2) {
        if (c >= 0x40 && c <= 0x7e) esc = 0; /* final byte of the sequence */
        return;
    }
    int was_cr = after_cr;
    after_cr = c == '\r';
    switch (c) {
    case '\n':
        if (was_cr) return;
        /* fall through */
    case '\r':
        execute();
        return;
    case 0x1b:
        esc = 1;
        return;
    case CTRL_C:
        con_puts("^C\n");
        len = 0;
        prompt();
        return;
    case '\b':
    case 0x7f:
        if (len) {
            len--;
            con_puts("\b \b");
        }
        return;
    default:
        if (c < 0x20 || c > 0x7e || len >= LINE_MAX) return;
        line[len++] = (char)c;
        con_putc((char)c);
    }
}

void shell_run(void)
{
    fence_release();
    wr32(DIAG_MAGIC, DIAG_MAGIC_VALUE);
    prompt();
    for (;;) {
        int did = diag_poll();
        int c = next_input();
        if (c >= 0) {
            input(c);
            did = 1;
        }
        idle_round(did);
    }
}

SHELL_CMD(help, "list the commands")
{
    con_puts("commands:\n");
    for (const struct shell_cmd *c = __shell_cmds_start; c < __shell_cmds_end; c++)
        con_printf("%s - %s\n", c->name, c->desc);
}

SHELL_CMD(version, "firmware version and layout")
{
    con_puts("amp demo firmware 2.0 (S-mode, legacy SBI console and timer)\n");
    con_printf("resource table copy %lx, shmem demo block %lx, diag %lx, trace %lx\n", RSC_SHM_ADDR,
               SHMDEMO_ADDR, DIAG_ADDR, TRACE_DA);
}
