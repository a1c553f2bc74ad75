/*
 * The demos the shell starts, one at a time, as the seed's image does:
 * rpmsg_echo (rpmsg-client-sample), rpmsg_update (msg-test echo),
 * matrix_multiplyd (matrix multiply) and shmem_demod (libmetal shared-memory
 * demo, no rpmsg), with the seed's console lines. Each runs until its own end
 * condition, the host's vdev reset, or Ctrl+C while it still waits for the
 * host; then the prompt comes back and the next command starts from a clean
 * device. Other input typed meanwhile waits for the shell, as on the seed.
 */
#include "amp.h"

#define SHUTDOWN_MSG 0xef56a55au
#define SAMPLE_LIMIT 100u
#define MATRIX_N 6u
#define MATRIX_BYTES (4u + 4u * MATRIX_N * MATRIX_N) /* 148 */
#define EPT_ADDR 1024u /* the first dynamic address: what upstream's apps get */

static const char *const app_names[] = {"", "rpmsg_echo", "rpmsg_update", "matrix_multiplyd",
                                        "shmem_demod"};

static int starts_with_shutdown(const uint8_t *d, uint32_t len)
{
    if (len < 4) return 0;
    uint32_t w = d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
    return w == SHUTDOWN_MSG;
}

static void shutdown(struct endpoint *ep)
{
    trace("%s: shutdown message received after %u messages", ep->name, ep->count);
    con_puts("shutdown message is received.\n");
    rpmsg_destroy(ep);
}

/* The message as text on the console (up to its first NUL), as the seed's sample prints it. */
static void print_text(const uint8_t *d, uint32_t len)
{
    for (uint32_t i = 0; i < len && d[i]; i++) con_putc((char)d[i]);
}

static void reply(struct endpoint *ep, const void *d, uint32_t len)
{
    if (rpmsg_send(ep, d, len) != 0) trace("%s: reply of %u bytes not sent", ep->name, len);
}

/* rpmsg_update: msg-test echo, every message back verbatim. */
static void echo_cb(struct endpoint *ep, const uint8_t *d, uint32_t len, uint32_t src)
{
    (void)src;
    if (starts_with_shutdown(d, len)) {
        shutdown(ep);
        return;
    }
    ep->count++;
    reply(ep, d, len);
}

/* rpmsg_echo: rpmsg-client-sample, echo each message; done after SAMPLE_LIMIT. */
static void sample_cb(struct endpoint *ep, const uint8_t *d, uint32_t len, uint32_t src)
{
    (void)src;
    ep->count++;
    con_printf("echo message number %u: ", ep->count);
    print_text(d, len);
    con_putc('\n');
    reply(ep, d, len);
    if (ep->count == SAMPLE_LIMIT) {
        trace("%s: %u messages echoed, done", ep->name, SAMPLE_LIMIT);
        con_puts("reach message limit, exit\n");
        rpmsg_destroy(ep);
    }
}

/* matrix_multiplyd: two {u32 size; u32 m[6][6]} in one message, one product back. */
static void matrix_cb(struct endpoint *ep, const uint8_t *d, uint32_t len, uint32_t src)
{
    (void)src;
    if (starts_with_shutdown(d, len)) {
        shutdown(ep);
        return;
    }
    if (len < 2 * MATRIX_BYTES) {
        trace("%s: %u-byte message, need %u: dropped", ep->name, len, 2 * MATRIX_BYTES);
        return;
    }
    uint32_t a[MATRIX_N][MATRIX_N], b[MATRIX_N][MATRIX_N], out[1 + MATRIX_N * MATRIX_N];
    uint32_t n;
    memcpy(&n, d, 4);
    memcpy(a, d + 4, sizeof(a));
    memcpy(b, d + MATRIX_BYTES + 4, sizeof(b));
    if (n > MATRIX_N) {
        trace("%s: matrix size %u > %u: dropped", ep->name, n, MATRIX_N);
        return;
    }
    memset(out, 0, sizeof(out));
    out[0] = n;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++) {
            uint32_t s = 0;
            for (uint32_t k = 0; k < n; k++) s += a[i][k] * b[k][j];
            out[1 + i * MATRIX_N + j] = s;
        }
    ep->count++;
    reply(ep, out, sizeof(out));
}

static struct endpoint app_ep;

/* The endpoint is done: destroyed here (after the host's DESTROY too) and the
 * destroy announced, or no name service to announce it. */
static int ep_finished(const struct endpoint *ep) { return ep->closed && ep->announce < 0; }

/* Input while a demo runs: 1 for Ctrl+C (it abandons the demo while that
 * still waits for the host, and is dropped otherwise); anything else waits
 * for the shell. */
static int ctrl_c(void)
{
    int c = con_getc(0);
    if (c < 0) return 0;
    if (c == CTRL_C) return 1;
    shell_typeahead(c);
    return 0;
}

static int run_rpmsg(const char *service, ept_cb cb, const char *destroyed_line,
                     const char *ready_lines)
{
    struct endpoint *list[1] = {&app_ep};
    memset(&app_ep, 0, sizeof(app_ep));
    app_ep.name = service;
    app_ep.addr = EPT_ADDR;
    app_ep.cb = cb;
    con_puts("Initialize remoteproc successfully.\n");
    con_puts("creating remoteproc virtio\n");
    rpmsg_start(list, 1);
    int created = 0, result = 0;
    for (;;) {
        int did = diag_poll();
        if (ctrl_c() && rpmsg_state() != FW_RUNNING) {
            con_puts("^C\n");
            trace("%s: abandoned by Ctrl+C", service);
            result = -1;
            break;
        }
        int r = rpmsg_poll();
        if (r == RP_RESET) {
            con_puts("the host reset the vdev\n");
            result = created ? 0 : -1;
            break;
        }
        if (!created && rpmsg_state() == FW_RUNNING) {
            created = 1;
            con_puts("initializing rpmsg shared buffer pool\n");
            con_puts("initializing rpmsg vdev\n");
            con_puts("initializing rpmsg vdev\n");
            con_puts(ready_lines);
        }
        if (created && app_ep.host_destroyed && !app_ep.closed) {
            con_puts(destroyed_line);
            rpmsg_destroy(&app_ep); /* announce our own DESTROY, as the seed does */
        }
        if (created && ep_finished(&app_ep)) break;
        idle_round(did || r);
    }
    if (created) {
        trace("%s: %u messages handled%s", service, app_ep.count,
              app_ep.host_destroyed ? "; endpoint destroyed by the host" : "");
    }
    rpmsg_stop();
    return result;
}

/*
 * libmetal shared-memory demo. Block at SHMDEMO_ADDR (its control word is the
 * poll word): +0x00 control (1 = running), +0x04 host->remote counter, +0x0C
 * remote->host counter, +0x14 message {u32 index; u32 len; text}, +0x800 reply.
 */
#define SHM_CTRL 0x00u
#define SHM_AVAIL 0x04u
#define SHM_DONE 0x0cu
#define SHM_MSG 0x14u
#define SHM_REPLY 0x800u
#define SHM_BUF_SIZE 0x400u /* each message buffer; the header is part of it */
#define SHM_MAX_TEXT (SHM_BUF_SIZE - 8u)

static int run_shmem(void)
{
    /* The control word was cleared with the poll word (app start). */
    con_puts("\nCLIENT> Configuration share memory\n");
    set_state(FW_WAIT_HOST);
    con_puts("\nCLIENT> Wait for shared memory demo to start.\n");
    uint32_t done = 0;
    int running = 0, result = 0;
    for (;;) {
        int did = diag_poll();
        if (ctrl_c() && !running) {
            con_puts("^C\n");
            result = -1;
            break;
        }
        uint32_t ctrl = rd32(SHMDEMO_ADDR + SHM_CTRL);
        fence_acquire();
        if (!running) {
            if (ctrl == 1) {
                running = 1;
                done = 0;
                set_state(FW_RUNNING);
                trace("shmem demo: started");
                con_puts("\nCLIENT> Demo has started.\n");
                did = 1;
            }
        } else if (ctrl != 1) {
            break;
        } else {
            uint32_t avail = rd32(SHMDEMO_ADDR + SHM_AVAIL);
            fence_acquire();
            if (avail < done) done = 0; /* the host restarted its run */
            if (avail != done) {
                uint32_t idx = rd32(SHMDEMO_ADDR + SHM_MSG);
                uint32_t len = rd32(SHMDEMO_ADDR + SHM_MSG + 4);
                uint32_t n = len;
                if (n > SHM_MAX_TEXT) {
                    trace("shmem demo: message %u length %u > %u, copy truncated", idx, len,
                          SHM_MAX_TEXT);
                    con_printf("ERROR: Input message is too long %u.\n", len);
                    n = SHM_MAX_TEXT;
                }
                wr32(SHMDEMO_ADDR + SHM_REPLY, idx);
                wr32(SHMDEMO_ADDR + SHM_REPLY + 4, len);
                memcpy((void *)(SHMDEMO_ADDR + SHM_REPLY + 8),
                       (const void *)(SHMDEMO_ADDR + SHM_MSG + 8), n);
                done++;
                fence_release();
                wr32(SHMDEMO_ADDR + SHM_DONE, done);
                did = 1;
            }
        }
        idle_round(did);
    }
    if (running) {
        trace("shmem demo: stopped after %u messages", done);
        con_puts("\nCLIENT> Shared memory test finished\n");
    }
    set_state(FW_SHELL);
    return result;
}

int app_run(enum app_id id)
{
    wr32(DIAG_APP, (uint32_t)id);
    wr32(DIAG_STARTS, rd32(DIAG_STARTS) + 1);
    trace("app %s: start", app_names[id]);
    if (id != APP_SHMEM) con_puts("Starting application...\n");
    wr32(NOTIFY_ADDR, 0); /* app start; for shmem_demod also its control word */
    fence_release();
    static const char endpoint_lines[] =
        "Try to create rpmsg endpoint.\nSuccessfully created rpmsg endpoint.\n";
    int r;
    switch (id) {
    case APP_RPMSG_ECHO:
        r = run_rpmsg("rpmsg-client-sample", sample_cb, "unexpected Remote endpoint destroy\n",
                      endpoint_lines);
        break;
    case APP_RPMSG_UPDATE:
        r = run_rpmsg("rpmsg-openamp-demo-channel", echo_cb,
                      "unexpected Remote endpoint destroy\n", endpoint_lines);
        break;
    case APP_MATRIX:
        r = run_rpmsg("rpmsg-openamp-demo-channel", matrix_cb, "ERROR: Endpoint is destroyed\n",
                      "Waiting for events...\n");
        break;
    case APP_SHMEM:
        r = run_shmem();
        break;
    default:
        r = -1;
    }
    trace("app %s: %s", app_names[id], r == 0 ? "done" : "abandoned");
    if (id != APP_SHMEM) con_puts("Stopping application...\n");
    wr32(DIAG_APP, APP_NONE);
    return r;
}

SHELL_CMD(rpmsg_echo, "rpmsg-client-sample: echo 100 messages")
{
    app_run(APP_RPMSG_ECHO);
}

SHELL_CMD(rpmsg_update, "msg-test echo on rpmsg-openamp-demo-channel")
{
    app_run(APP_RPMSG_UPDATE);
}

SHELL_CMD(matrix_multiplyd, "matrix multiply on rpmsg-openamp-demo-channel")
{
    app_run(APP_MATRIX);
}

SHELL_CMD(shmem_demod, "libmetal shared-memory demo at 0x90000000")
{
    app_run(APP_SHMEM);
}
