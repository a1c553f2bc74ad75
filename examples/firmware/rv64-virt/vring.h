/*
 * Split virtqueue, device side: the per-buffer operations, inline because the
 * polling loop runs them every round (vring.c has the setup). Everything the
 * driver (host) wrote is checked before use: index jumps, head ids, descriptor
 * flags and buffer addresses. A check that fails marks the queue broken until
 * the vdev is reset.
 */
#ifndef VRING_H
#define VRING_H

#include "amp.h"

#define VQ_DESC_SIZE 16u

/* 1 and fills *b when a buffer is available, 0 when not, -1 when the ring is broken. */
static inline int vq_peek(struct vq *q, struct vq_buf *b, uint32_t min_len)
{
    if (q->broken) return -1;
    uint16_t idx = rd16(q->avail + 2);
    uint16_t pending = (uint16_t)(idx - q->last_avail);
    if (pending == 0) return 0;
    /* The entries published before idx are read after it. */
    fence_acquire();
    if (pending > q->num) {
        vq_broken(q, "avail idx jumped", idx, q->last_avail);
        return -1;
    }
    uint16_t head = rd16(q->avail + 4u + 2u * (q->last_avail & (q->num - 1)));
    if (head >= q->num) {
        vq_broken(q, "head out of range", head, q->num);
        return -1;
    }
    uintptr_t d = q->desc + (uintptr_t)VQ_DESC_SIZE * head;
    uint64_t addr = rd64(d);
    uint32_t len = rd32(d + 8);
    uint16_t flags = rd16(d + 12);
    if (flags & 4u) {
        vq_broken(q, "indirect descriptor", head, flags);
        return -1;
    }
    /* Only the head buffer is used; rpmsg never chains. */
    if (addr < POOL_ADDR || addr > POOL_ADDR + POOL_SIZE || len > POOL_ADDR + POOL_SIZE - addr) {
        vq_broken(q, "buffer outside the pool", (uint32_t)addr, len);
        return -1;
    }
    if (len < min_len) {
        vq_broken(q, "buffer too small", len, min_len);
        return -1;
    }
    b->head = head;
    b->addr = (uintptr_t)addr;
    b->len = len;
    return 1;
}

/* Consume the buffer vq_peek returned and give it back on the used ring. */
static inline void vq_take_and_return(struct vq *q, const struct vq_buf *b)
{
    uintptr_t e = q->used + 4u + 8u * (q->used_idx & (q->num - 1));
    wr32(e, b->head);
    wr32(e + 4, b->len); /* the full buffer length, as upstream reports it */
    q->last_avail++;
    q->used_idx++;
    fence_release();
    wr16(q->used + 2, q->used_idx);
}

/* The driver did not set VRING_AVAIL_F_NO_INTERRUPT. */
static inline int vq_want_kick(const struct vq *q) { return !(rd16(q->avail) & 1u); }

#endif
