/*
 * Split virtqueue, device side: ring setup, with the ring placement the host
 * chose checked, and the broken state. The per-buffer operations are inline
 * in vring.h.
 */
#include "vring.h"

#define DESC_SIZE VQ_DESC_SIZE

static int is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

void vq_broken(struct vq *q, const char *why, uint32_t a, uint32_t b)
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
