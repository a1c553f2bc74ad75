/*
 * amp demo firmware for rv64-virt: memory layout, MMIO helpers and the
 * interfaces between the firmware's parts. Freestanding: no libc.
 */
#ifndef AMP_H
#define AMP_H

#include <stddef.h>
#include <stdint.h>

/* ---- Memory layout (machines.md section 1) ---- */
#define NOTIFY_ADDR 0x90000000UL    /* u32 kick word; write 1, nobody clears */
#define DIAG_PING_ADDR 0x90000040UL /* u32 written by the host */
#define DIAG_PONG_ADDR 0x90000044UL /* u32 the firmware copies PING into */
#define DIAG_STATE_ADDR 0x90000048UL /* u32 FW_STATE_* below */
#define DIAG_MAGIC_ADDR 0x9000004cUL /* u32 DIAG_MAGIC once the firmware runs */
#define DIAG_MAGIC 0x46504d41u       /* "AMPF" */
#define DIAG_SLEEPS_ADDR 0x90000050UL /* u32 count of idle WFI sleeps */
#define SHMDEMO_ADDR 0x90010000UL    /* libmetal shared-memory demo block */
#define SHMDEMO_SIZE 0x1000UL
#define RSC_SHM_ADDR 0x90100000UL /* resource table copy shared with the host */
#define POOL_ADDR 0x90120000UL    /* rpmsg buffer pool */
#define POOL_SIZE 0x40000UL
#define VRING_WIN_ADDR 0x90160000UL /* vrings must lie in [WIN_ADDR, WIN_END) */
#define VRING_WIN_END 0x90180000UL /* end of the 90100000.shm region */

#define TRACE_DA 0x90240000UL /* fixed by link.ld */
#define TRACE_LEN 0x1000u

#define CLINT_MTIME 0x0200bff8UL
#define CLINT_MTIMECMP 0x02004000UL
#define UART0 0x10000000UL
#define TICKS_PER_MS 10000u /* virt board timer: 10 MHz */

/* Firmware states published at DIAG_STATE_ADDR. */
enum fw_state {
    FW_BOOT = 0,
    FW_WAIT_DRIVER_OK = 1,
    FW_RUNNING = 2,
    FW_BROKEN = 3,
};

/* ---- Boot argument (a1 from the boot stub / SBI hart_start opaque) ----
 * Honoured only when bits 63..32 hold ARG_MAGIC, so a stray value changes nothing. */
#define ARG_MAGIC 0x414d5000u      /* "\0PMA" */
#define ARG_MODE_MATRIX 0x1u       /* "rpmsg-openamp-demo-channel" is the matrix service */
#define ARG_UART 0x100u            /* mirror the trace to the UART */

/* ---- Resource table (rsc_table.c) ---- */
#define RSC_VDEV_OFF 0x30u
#define RSC_TRACE_OFF 0x74u
#define VDEV_STATUS_OFF (RSC_VDEV_OFF + 24u)
#define VDEV_GFEATURES_OFF (RSC_VDEV_OFF + 16u)
#define VDEV_DFEATURES_OFF (RSC_VDEV_OFF + 12u)
#define VDEV_VRING_OFF(i) (RSC_VDEV_OFF + 28u + 20u * (i))
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_NEEDS_RESET 0x40u
#define RPMSG_F_NS 1u

extern const uint8_t *const resource_table_ptr;
extern const size_t resource_table_size;

/* ---- MMIO / shared memory access ---- */
static inline uint8_t rd8(uintptr_t a) { return *(volatile uint8_t *)a; }
static inline uint16_t rd16(uintptr_t a) { return *(volatile uint16_t *)a; }
static inline uint32_t rd32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline uint64_t rd64(uintptr_t a) { return *(volatile uint64_t *)a; }
static inline void wr8(uintptr_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void wr16(uintptr_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline void wr32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline void wr64(uintptr_t a, uint64_t v) { *(volatile uint64_t *)a = v; }
/* Acquire: later loads/stores stay after earlier loads. */
static inline void fence_acquire(void) { __asm__ volatile("fence r, rw" ::: "memory"); }
/* Release: earlier loads/stores complete before later stores. */
static inline void fence_release(void) { __asm__ volatile("fence rw, w" ::: "memory"); }

static inline uint64_t mtime(void) { return rd64(CLINT_MTIME); }
void sleep_ticks(uint64_t ticks); /* timed WFI */

/* ---- Freestanding helpers (util.c) ---- */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strnlen(const char *s, size_t max);

/* ---- Trace buffer (trace.c) ---- */
extern char trace_buf[TRACE_LEN];
void trace_init(int uart);
/* One line per call. Formats: %s, %u %d %x and %lu %ld %lx. */
void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Virtio device role (vring.c) ---- */
struct vq {
    const char *name;
    uint32_t num;
    uintptr_t desc, avail, used;
    uint16_t last_avail; /* next avail index to take */
    uint16_t used_idx;   /* private shadow of the used index we published */
    int broken;
};

struct vq_buf {
    uint16_t head;
    uintptr_t addr;
    uint32_t len;
};

int vq_setup(struct vq *q, const char *name, uint32_t da, uint32_t align, uint32_t num);
int vq_setup_check_overlap(const struct vq *a, const struct vq *b);
/* 1 and fills *b when a buffer is available, 0 when not, -1 when the ring is broken. */
int vq_peek(struct vq *q, struct vq_buf *b, uint32_t min_len);
void vq_take_and_return(struct vq *q, const struct vq_buf *b);
int vq_want_kick(const struct vq *q);

/* ---- rpmsg device (rpmsg.c) ---- */
#define RPMSG_HDR_SIZE 16u
#define RPMSG_NS_ADDR 53u
#define RPMSG_ADDR_ANY 0xffffffffu
#define RPMSG_MAX_PAYLOAD 496u
#define NS_CREATE 0
#define NS_DESTROY 1

struct endpoint;
typedef void (*ept_cb)(struct endpoint *ep, const uint8_t *data, uint32_t len, uint32_t src);
struct endpoint {
    const char *name;
    uint32_t addr;
    uint32_t dst;
    ept_cb cb;
    void (*reset)(struct endpoint *ep);
    uint32_t count;
    int announce; /* pending NS message: -1 none, NS_CREATE or NS_DESTROY */
    int closed;
};

void rpmsg_init(struct endpoint **eps, unsigned n);
int rpmsg_poll(void); /* returns 1 when something happened */
/* 0 on success, -1 when no TX buffer is available right now, -2 on a bad request. */
int rpmsg_send(struct endpoint *ep, const void *data, uint32_t len);
void rpmsg_destroy(struct endpoint *ep);

/* ---- Services (services.c) ---- */
void services_init(uint64_t arg);
int shmdemo_poll(void);

#endif
