/*
 * rpmsg over the virtio device role, by polling, for one demo session: the
 * seed handshake (publish the table copy, wait for DRIVER_OK in it), name
 * service announcements, message dispatch to endpoints. When the host resets
 * the vdev (DRIVER_OK goes away) the session ends.
 */
#include "vring.h"

static struct vq tx; /* vring0: device -> driver (the host's RX) */
static struct vq rx; /* vring1: driver -> device (the host's TX) */
/* The next vring0 buffer, checked once by vq_peek and kept until a send
 * consumes it: receive_one looks for a reply buffer before it takes each
 * message, and the reply uses that same buffer without reading the ring
 * again. */
static struct vq_buf tx_next;
static int tx_ready;
static int announce_due; /* an endpoint may have a name service message to send */
static struct endpoint **eps;
static unsigned n_eps;
static enum fw_state state;
static uint32_t features;
static uint32_t dropped;

/* Inbound payload, copied out of shared memory before anything looks at it. */
static uint8_t msg_buf[RPMSG_MAX_PAYLOAD] __attribute__((aligned(8)));

static void enter(enum fw_state s)
{
    state = s;
    set_state(s);
}

int rpmsg_state(void) { return (int)state; }

static uint8_t vdev_status(void) { return rd8(RSC_SHM_ADDR + VDEV_STATUS_OFF); }

static void kick(void) { wr32(NOTIFY_ADDR, 1); }
/* While receive_one delivers a message, a send leaves its kick to it. */
static int kick_deferred, kick_owed;

void publish_table(void)
{
    /* Everything but `ver` first: a host that zeroed `ver` and waits for it
     * sees a complete table (status 0, vrings ANY) once `ver` is back. */
    memcpy((void *)(RSC_SHM_ADDR + 4), resource_table_ptr + 4, resource_table_size - 4);
    fence_release();
    uint32_t ver;
    memcpy(&ver, resource_table_ptr, 4);
    wr32(RSC_SHM_ADDR, ver);
    fence_release();
}

void rpmsg_start(struct endpoint **list, unsigned n)
{
    eps = list;
    n_eps = n;
    memset(&tx, 0, sizeof(tx));
    memset(&rx, 0, sizeof(rx));
    tx_ready = 0;
    features = 0;
    for (unsigned i = 0; i < n_eps; i++) {
        struct endpoint *ep = eps[i];
        ep->dst = RPMSG_ADDR_ANY;
        ep->count = 0;
        ep->closed = 0;
        ep->host_destroyed = 0;
        ep->announce = -1;
    }
    publish_table();
    enter(FW_WAIT_HOST);
    trace("resource table at %lx; waiting for DRIVER_OK", RSC_SHM_ADDR);
}

void rpmsg_stop(void)
{
    memset(&tx, 0, sizeof(tx));
    memset(&rx, 0, sizeof(rx));
    tx_ready = 0;
    n_eps = 0;
    enter(FW_SHELL);
}

static void reset_endpoints(void)
{
    for (unsigned i = 0; i < n_eps; i++) {
        struct endpoint *ep = eps[i];
        ep->dst = RPMSG_ADDR_ANY;
        ep->count = 0;
        ep->closed = 0;
        ep->host_destroyed = 0;
        ep->announce = (features & RPMSG_F_NS) ? NS_CREATE : -1;
    }
    announce_due = 1;
}

static int start_vdev(void)
{
    uint32_t v[2][3];
    for (unsigned i = 0; i < 2; i++) {
        uintptr_t r = RSC_SHM_ADDR + VDEV_VRING_OFF(i);
        v[i][0] = rd32(r);     /* da, written by the host */
        v[i][1] = rd32(r + 4); /* align */
        v[i][2] = rd32(r + 8); /* num */
    }
    uint32_t gf = rd32(RSC_SHM_ADDR + VDEV_GFEATURES_OFF);
    features = RPMSG_F_NS & gf;
    tx_ready = 0;
    if (vq_setup(&tx, "vring0", v[0][0], v[0][1], v[0][2]) ||
        vq_setup(&rx, "vring1", v[1][0], v[1][1], v[1][2]) || vq_setup_check_overlap(&tx, &rx))
        return -1;
    dropped = 0;
    reset_endpoints();
    trace("vdev up: vring0 %x vring1 %x num %u/%u features %x", v[0][0], v[1][0], tx.num, rx.num,
          features);
    return 0;
}

/* The next vring0 buffer (see tx_next): 1 and fills *b, 0 none, -1 broken. */
static int tx_peek(struct vq_buf *b)
{
    if (!tx_ready) {
        int r = vq_peek(&tx, &tx_next, RPMSG_HDR_SIZE);
        if (r <= 0) return r;
        tx_ready = 1;
    }
    *b = tx_next;
    return 1;
}

int rpmsg_send(struct endpoint *ep, const void *data, uint32_t len)
{
    if (len > RPMSG_MAX_PAYLOAD || ep->dst == RPMSG_ADDR_ANY) return -2;
    struct vq_buf b;
    int r = tx_peek(&b);
    if (r <= 0) return -1;
    if (len > b.len - RPMSG_HDR_SIZE) {
        trace("%s: %u-byte message does not fit a %u-byte buffer", ep->name, len, b.len);
        return -2;
    }
    wr32(b.addr + 0, ep->addr);
    wr32(b.addr + 4, ep->dst);
    wr32(b.addr + 8, 0);
    wr16(b.addr + 12, (uint16_t)len);
    wr16(b.addr + 14, 0);
    memcpy((void *)(b.addr + RPMSG_HDR_SIZE), data, len);
    tx_ready = 0;
    vq_take_and_return(&tx, &b);
    if (vq_want_kick(&tx)) {
        if (kick_deferred)
            kick_owed = 1;
        else
            kick();
    }
    return 0;
}

static int send_ns(struct endpoint *ep, uint32_t flags)
{
    uint8_t m[40];
    memset(m, 0, sizeof(m));
    memcpy(m, ep->name, strnlen(ep->name, 32));
    memcpy(m + 32, &ep->addr, 4);
    memcpy(m + 36, &flags, 4);
    uint32_t dst = ep->dst;
    ep->dst = RPMSG_NS_ADDR;
    int r = rpmsg_send(ep, m, sizeof(m));
    ep->dst = dst;
    return r;
}

void rpmsg_destroy(struct endpoint *ep)
{
    ep->closed = 1;
    ep->announce = (features & RPMSG_F_NS) ? NS_DESTROY : -1;
    announce_due = 1;
}

static struct endpoint *find_ep(uint32_t addr)
{
    for (unsigned i = 0; i < n_eps; i++)
        if (eps[i]->addr == addr) return eps[i];
    return 0;
}

static void ns_message(const uint8_t *m, uint32_t len)
{
    if (len != 40) {
        trace("ns: malformed %u-byte message dropped", len);
        return;
    }
    uint32_t addr, flags;
    memcpy(&addr, m + 32, 4);
    memcpy(&flags, m + 36, 4);
    size_t nl = strnlen((const char *)m, 32);
    for (unsigned i = 0; i < n_eps; i++) {
        struct endpoint *ep = eps[i];
        size_t el = strnlen(ep->name, 32);
        if (el != nl || memcmp(ep->name, m, nl)) continue;
        if (flags == NS_CREATE && ep->dst == RPMSG_ADDR_ANY) {
            ep->dst = addr;
            trace("ns: %s bound to host address %u", ep->name, addr);
        } else if (flags == NS_DESTROY) {
            ep->dst = RPMSG_ADDR_ANY;
            ep->host_destroyed = 1;
            trace("ns: host destroyed %s", ep->name);
        }
    }
}

/* One message, copied out of its buffer: to the name service or its endpoint. */
static void deliver(uint32_t src, uint32_t dst, uint32_t len)
{
    if (dst == RPMSG_NS_ADDR) {
        ns_message(msg_buf, len);
        return;
    }
    struct endpoint *ep = find_ep(dst);
    if (!ep || ep->closed) {
        if (dropped++ < 8) trace("rx: no endpoint at %u (from %u), dropped", dst, src);
        return;
    }
    if (ep->dst == RPMSG_ADDR_ANY) {
        ep->dst = src;
        trace("%s: host address %u learned from its first message", ep->name, src);
    }
    ep->cb(ep, msg_buf, len, src);
}

/*
 * Handle one driver -> device message; 1 if one was handled, 0 if none, -1
 * broken. The payload is copied out first; the endpoint's reply (if any) is
 * on vring0 before the message's buffer goes back on vring1, as upstream's
 * device does it, and one kick covers both.
 */
static int receive_one(void)
{
    struct vq_buf b, t;
    /* Back-pressure: leave the message in the ring until a reply buffer exists. */
    int have_tx = tx_peek(&t);
    if (have_tx < 0) return -1;
    if (have_tx == 0) return 0;
    int r = vq_peek(&rx, &b, RPMSG_HDR_SIZE);
    if (r <= 0) return r;
    uint32_t src = rd32(b.addr + 0);
    uint32_t dst = rd32(b.addr + 4);
    uint32_t len = rd16(b.addr + 12);
    int ok = len <= b.len - RPMSG_HDR_SIZE && len <= RPMSG_MAX_PAYLOAD;
    if (ok) {
        memcpy(msg_buf, (const void *)(b.addr + RPMSG_HDR_SIZE), len);
        kick_deferred = 1;
        deliver(src, dst, len);
        kick_deferred = 0;
    } else {
        trace("rx: header len %u exceeds the %u-byte buffer, dropped", len, b.len);
    }
    vq_take_and_return(&rx, &b);
    if (kick_owed || vq_want_kick(&rx)) {
        kick_owed = 0;
        kick();
    }
    return 1;
}

static int announce_pending(void)
{
    int did = 0;
    for (unsigned i = 0; i < n_eps; i++) {
        struct endpoint *ep = eps[i];
        if (ep->announce < 0) continue;
        if (send_ns(ep, (uint32_t)ep->announce) != 0) return did; /* no buffer yet */
        trace("ns: %s %s at %u", ep->announce == NS_CREATE ? "announced" : "destroyed", ep->name,
              ep->addr);
        ep->announce = -1;
        did = 1;
    }
    announce_due = 0;
    return did;
}

/* A running session: announcements, then up to 16 messages. */
static __attribute__((noinline)) int poll_running(void)
{
    int did = announce_pending();
    for (int i = 0; i < 16; i++) {
        int r = receive_one();
        if (r <= 0) break;
        did = 1;
    }
    return did ? RP_ACTIVE : RP_IDLE;
}

/* Every other case: the handshake, a reset, a broken ring. */
static __attribute__((noinline)) int poll_state(uint8_t st)
{
    fence_acquire(); /* the host's table before its DRIVER_OK */
    switch (state) {
    case FW_WAIT_HOST:
        if (!(st & VIRTIO_STATUS_DRIVER_OK)) return RP_IDLE;
        if (start_vdev() != 0) {
            trace("vdev: host configuration rejected; waiting for a vdev reset");
            con_puts("ERROR: the host's vrings were refused (see the trace); waiting for a reset\n");
            enter(FW_BROKEN);
            return RP_ACTIVE;
        }
        enter(FW_RUNNING);
        return RP_ACTIVE;
    case FW_RUNNING:
        if (!(st & VIRTIO_STATUS_DRIVER_OK)) {
            trace("vdev reset by the host (status %x)", st);
            return RP_RESET;
        }
        trace("vdev: ring broken; waiting for a vdev reset");
        con_puts("ERROR: the host broke a vring (see the trace); waiting for a reset\n");
        wr8(RSC_SHM_ADDR + VDEV_STATUS_OFF, st | VIRTIO_STATUS_NEEDS_RESET);
        enter(FW_BROKEN);
        return RP_ACTIVE;
    case FW_BROKEN:
        if (!(st & VIRTIO_STATUS_DRIVER_OK)) {
            trace("vdev reset by the host (status %x)", st);
            return RP_RESET;
        }
        return RP_IDLE;
    default:
        return RP_IDLE;
    }
}

int rpmsg_poll(void)
{
    uint8_t st = vdev_status();
    /* The common case first, with nothing to save: the rings' own indices
     * order what is read from them (vq_peek). */
    if (state != FW_RUNNING || !(st & VIRTIO_STATUS_DRIVER_OK) || tx.broken || rx.broken)
        return poll_state(st);
    /* Nothing new on vring1 and nothing to announce: idle, without a call. */
    if (!announce_due && rd16(rx.avail + 2) == rx.last_avail) return RP_IDLE;
    return poll_running();
}
