/*
 * The demo services: echo, rpmsg-client-sample, matrix multiply, and the
 * libmetal shared-memory demo responder (no rpmsg).
 */
#include "amp.h"

#define SHUTDOWN_MSG 0xef56a55au
#define SAMPLE_LIMIT 100u
#define MATRIX_N 6u
#define MATRIX_BYTES (4u + 4u * MATRIX_N * MATRIX_N) /* 148 */

static int starts_with_shutdown(const uint8_t *d, uint32_t len)
{
    uint32_t w;
    if (len < 4) return 0;
    memcpy(&w, d, 4);
    return w == SHUTDOWN_MSG;
}

static void shutdown(struct endpoint *ep)
{
    trace("%s: shutdown message received after %u messages", ep->name, ep->count);
    rpmsg_destroy(ep);
}

static void reply(struct endpoint *ep, const void *d, uint32_t len)
{
    if (rpmsg_send(ep, d, len) != 0) trace("%s: reply of %u bytes not sent", ep->name, len);
}

/* "rpmsg-openamp-demo-channel" as the echo service. */
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

/* "rpmsg-client-sample": echo each message; done after SAMPLE_LIMIT. */
static void sample_cb(struct endpoint *ep, const uint8_t *d, uint32_t len, uint32_t src)
{
    (void)src;
    if (ep->count >= SAMPLE_LIMIT) {
        trace("%s: message after the %u-message run dropped", ep->name, SAMPLE_LIMIT);
        return;
    }
    ep->count++;
    reply(ep, d, len);
    if (ep->count == SAMPLE_LIMIT) trace("%s: %u messages echoed, done", ep->name, SAMPLE_LIMIT);
}

/* Matrix multiply: two {u32 size; u32 m[6][6]} in one message, one product back. */
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

static void count_reset(struct endpoint *ep) { ep->count = 0; }

static struct endpoint demo_ep = {
    .name = "rpmsg-openamp-demo-channel", .addr = 1024, .cb = echo_cb, .reset = count_reset};
static struct endpoint sample_ep = {
    .name = "rpmsg-client-sample", .addr = 1025, .cb = sample_cb, .reset = count_reset};
static struct endpoint matrix_ep = {
    .name = "rpmsg-openamp-matrix", .addr = 1026, .cb = matrix_cb, .reset = count_reset};
static struct endpoint *eps[3];

void services_init(uint64_t arg)
{
    uint32_t mode = 0;
    if ((uint32_t)(arg >> 32) == ARG_MAGIC) mode = (uint32_t)arg;
    unsigned n = 0;
    if (mode & ARG_MODE_MATRIX) {
        demo_ep.cb = matrix_cb;
        eps[n++] = &demo_ep;
        eps[n++] = &sample_ep;
        trace("mode: matrix on %s", demo_ep.name);
    } else {
        eps[n++] = &demo_ep;
        eps[n++] = &sample_ep;
        eps[n++] = &matrix_ep;
        trace("mode: echo on %s, matrix on %s", demo_ep.name, matrix_ep.name);
    }
    rpmsg_init(eps, n);
}

/*
 * libmetal shared-memory demo responder. Block at SHMDEMO_ADDR:
 * +0x00 control (1 = running), +0x04 host->remote counter, +0x0C remote->host
 * counter, +0x14 message {u32 index; u32 len; text}, +0x800 reply.
 */
#define SHM_CTRL 0x00u
#define SHM_AVAIL 0x04u
#define SHM_DONE 0x0cu
#define SHM_MSG 0x14u
#define SHM_REPLY 0x800u
#define SHM_BUF_SIZE 0x400u /* each message buffer; the header is part of it */
#define SHM_MAX_TEXT (SHM_BUF_SIZE - 8u)

static uint32_t shm_done;
static int shm_running;

int shmdemo_poll(void)
{
    uint32_t ctrl = rd32(SHMDEMO_ADDR + SHM_CTRL);
    if (ctrl != 1) {
        if (shm_running) trace("shmem demo: stopped after %u messages", shm_done);
        shm_running = 0;
        return 0;
    }
    if (!shm_running) {
        shm_running = 1;
        shm_done = 0;
        trace("shmem demo: started");
    }
    uint32_t avail = rd32(SHMDEMO_ADDR + SHM_AVAIL);
    fence_acquire();
    if (avail < shm_done) shm_done = 0; /* the host restarted the demo */
    if (avail == shm_done) return 0;
    uint32_t idx = rd32(SHMDEMO_ADDR + SHM_MSG);
    uint32_t len = rd32(SHMDEMO_ADDR + SHM_MSG + 4);
    uint32_t n = len;
    if (n > SHM_MAX_TEXT) {
        trace("shmem demo: message %u length %u > %u, copy truncated", idx, len, SHM_MAX_TEXT);
        n = SHM_MAX_TEXT;
    }
    wr32(SHMDEMO_ADDR + SHM_REPLY, idx);
    wr32(SHMDEMO_ADDR + SHM_REPLY + 4, len);
    memcpy((void *)(SHMDEMO_ADDR + SHM_REPLY + 8), (const void *)(SHMDEMO_ADDR + SHM_MSG + 8), n);
    shm_done++;
    fence_release();
    wr32(SHMDEMO_ADDR + SHM_DONE, shm_done);
    return 1;
}
