/*
 * Split virtqueue, device side. Everything the driver (host) wrote is checked
 * before use: ring placement, index jumps, head ids and buffer addresses. A
 * check that fails marks the queue broken until the vdev is reset.
 */
#include "amp.h"

#define DESC_SIZE 16u

static int is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

static void broken(struct vq *q, const char *why, uint32_t a, uint32_t b)
{
    if (!q->broken) trace("%s: broken: %s (%u, %u)", q->name, why, a, b);
    q->broken = 1;
}

int vq_setup(struct vq *q, const char *name, uint32_t da, uint32_t align, uint32_t num)
{
    memset(q, 0, sizeof(*q));
    q->name = name;
    if (!is_pow2(num) || num > 1024u) {
        trace("%s: num %u is not a power of two in 1..1024", name, num);
        return -1;
    }
    if (!is_pow2(align) || align < 16u || align > 0x10000u) {
        trace("%s: align %x is not a power of two in 16..0x10000", name, align);
        return -1;
    }
    if (da & 15u) {
        trace("%s: address %x is not 16-byte aligned", name, da);
        return -1;
    }
    /* All in 64-bit: da < 2^32, sizes are small, no wrap possible. */
    uint64_t desc = da;
    uint64_t avail = desc + (uint64_t)DESC_SIZE * num;
    uint64_t avail_end = avail + 4u + 2u * (uint64_t)num + 2u;
    uint64_t used = (avail_end + align - 1) & ~((uint64_t)align - 1);
    uint64_t end = used + 4u + 8u * (uint64_t)num + 2u;
    if (desc < VRING_WIN_ADDR || end > VRING_WIN_END) {
        trace("%s: ring [%x, +%x) is outside the vring window [%lx, %lx)", name, da,
              (uint32_t)(end - desc), VRING_WIN_ADDR, VRING_WIN_END);
        return -1;
    }
    q->num = num;
    q->desc = (uintptr_t)desc;
    q->avail = (uintptr_t)avail;
    q->used = (uintptr_t)used;
    return 0;
}

static uintptr_t vq_end(const struct vq *q) { return q->used + 4u + 8u * q->num + 2u; }

int vq_setup_check_overlap(const struct vq *a, const struct vq *b)
{
    if (a->desc < vq_end(b) && b->desc < vq_end(a)) {
        trace("%s and %s overlap", a->name, b->name);
        return -1;
    }
    return 0;
}

int vq_peek(struct vq *q, struct vq_buf *b, uint32_t min_len)
{
    if (q->broken) return -1;
    uint16_t idx = rd16(q->avail + 2);
    fence_acquire();
    uint16_t pending = (uint16_t)(idx - q->last_avail);
    if (pending == 0) return 0;
    if (pending > q->num) {
        broken(q, "avail idx jumped", idx, q->last_avail);
        return -1;
    }
    uint16_t head = rd16(q->avail + 4u + 2u * (q->last_avail & (q->num - 1)));
    if (head >= q->num) {
        broken(q, "head out of range", head, q->num);
        return -1;
    }
    uintptr_t d = q->desc + (uintptr_t)DESC_SIZE * head;
    uint64_t addr = rd64(d);
    uint32_t len = rd32(d + 8);
    uint16_t flags = rd16(d + 12);
    if (flags & 4u) {
        broken(q, "indirect descriptor", head, flags);
        return -1;
    }
    /* Only the head buffer is used; rpmsg never chains. */
    if (addr < POOL_ADDR || addr > POOL_ADDR + POOL_SIZE || len > POOL_ADDR + POOL_SIZE - addr) {
        broken(q, "buffer outside the pool", (uint32_t)addr, len);
        return -1;
    }
    if (len < min_len) {
        broken(q, "buffer too small", len, min_len);
        return -1;
    }
    b->head = head;
    b->addr = (uintptr_t)addr;
    b->len = len;
    return 1;
}

void vq_take_and_return(struct vq *q, const struct vq_buf *b)
{
    uintptr_t e = q->used + 4u + 8u * (q->used_idx & (q->num - 1));
    wr32(e, b->head);
    wr32(e + 4, b->len); /* the full buffer length, as upstream reports it */
    q->last_avail++;
    q->used_idx++;
    fence_release();
    wr16(q->used + 2, q->used_idx);
}

int vq_want_kick(const struct vq *q) { return !(rd16(q->avail) & 1u); }
