/*
 * amp demo firmware for rv64-virt: an S-mode program entered through SBI HSM
 * hart_start (a0 = hart id, a1 = opaque), driven like the seed's RT-Thread
 * image: a shell on the SBI console starts each demo when its command is
 * typed. Memory layout, SBI and console helpers, and the interfaces between
 * the firmware's parts. Freestanding: no libc.
 */
#ifndef AMP_H
#define AMP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Memory layout (machines.md section 1; README.md) ---- */
#define NOTIFY_ADDR 0x90000000UL  /* u32 poll word: 0 at app start, 1 = kick; nobody clears */
#define SHMDEMO_ADDR 0x90000000UL /* libmetal shared-memory demo block (control = poll word) */
#define SHMDEMO_SIZE 0x1000UL
#define DIAG_ADDR 0x90002000UL    /* amp-only diagnostics, outside the demo block */
#define DIAG_PING (DIAG_ADDR + 0x00)   /* u32 written by the host */
#define DIAG_PONG (DIAG_ADDR + 0x04)   /* u32 the firmware copies PING into */
#define DIAG_STATE (DIAG_ADDR + 0x08)  /* u32 FW_* below */
#define DIAG_MAGIC (DIAG_ADDR + 0x0c)  /* u32 DIAG_MAGIC_VALUE once the shell runs */
#define DIAG_SLEEPS (DIAG_ADDR + 0x10) /* u32 count of idle WFI sleeps */
#define DIAG_APP (DIAG_ADDR + 0x14)    /* u32 APP_* of the running demo, 0 none */
#define DIAG_TRAPPED (DIAG_ADDR + 0x18) /* u32 1 after an unexpected trap */
#define DIAG_HART (DIAG_ADDR + 0x1c)   /* u32 the hart the firmware runs on */
#define DIAG_SCAUSE (DIAG_ADDR + 0x20) /* u64 of the unexpected trap */
#define DIAG_SEPC (DIAG_ADDR + 0x28)   /* u64 */
#define DIAG_STVAL (DIAG_ADDR + 0x30)  /* u64 */
#define DIAG_STARTS (DIAG_ADDR + 0x38) /* u32 demo commands started since boot */
#define DIAG_SIZE 0x40u
#define DIAG_MAGIC_VALUE 0x46504d41u /* "AMPF" */
#define RSC_SHM_ADDR 0x90100000UL /* resource table copy shared with the host */
#define POOL_ADDR 0x90120000UL    /* rpmsg buffer pool */
#define POOL_SIZE 0x40000UL
#define VRING_WIN_ADDR 0x90160000UL /* vrings must lie in [WIN_ADDR, WIN_END) */
#define VRING_WIN_END 0x90180000UL /* end of the 90100000.shm region */

#define TRACE_DA 0x90240000UL /* fixed by link.ld */
#define TRACE_LEN 0x1000u

#define TICKS_PER_MS 10000u /* virt board timebase: 10 MHz */

/* Firmware states published at DIAG_STATE. */
enum fw_state {
    FW_SHELL = 0,          /* at the prompt, no demo running */
    FW_WAIT_HOST = 1,      /* a demo waits for the host (DRIVER_OK, or shmem control = 1) */
    FW_RUNNING = 2,        /* a demo runs */
    FW_BROKEN = 3,         /* the host broke a ring (NEEDS_RESET), or an unexpected trap */
};

/* Demos, published at DIAG_APP while they run. */
enum app_id {
    APP_NONE = 0,
    APP_RPMSG_ECHO = 1,       /* rpmsg-client-sample */
    APP_RPMSG_UPDATE = 2,     /* msg-test echo */
    APP_MATRIX = 3,           /* matrix multiply */
    APP_SHMEM = 4,            /* libmetal shared-memory demo */
};

/* ---- Boot argument (a1: SBI hart_start's opaque) ----
 * Honoured only when bits 63..32 hold ARG_MAGIC, so a stray value changes nothing. */
#define ARG_MAGIC 0x414d5000u /* "\0PMA" */
#define ARG_TRACE_CONSOLE 0x100u /* mirror the trace to the console */

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

/* ---- Shared memory access ---- */
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

/* ---- SBI, legacy v0.1 numbering only (sbi.c) ---- */
#define SBI_LEGACY_SET_TIMER 0
#define SBI_LEGACY_CONSOLE_PUTCHAR 1
#define SBI_LEGACY_CONSOLE_GETCHAR 2
long sbi_legacy(long ext, long arg0);
static inline uint64_t rdtime(void)
{
    uint64_t t;
    __asm__ volatile("rdtime %0" : "=r"(t));
    return t;
}
void sleep_ticks(uint64_t ticks); /* timed WFI through the SBI timer */

/* ---- Console over the SBI (console.c) ---- */
void con_putc(char c); /* "\n" is enough: the SBI sends "\r\n" */
void con_puts(const char *s);
void con_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The next input byte, or -1. Unless `now` is set it asks the SBI at most
 * every CON_POLL_TICKS, and reads the clock for that only every
 * CON_POLL_ROUNDS calls: a polling loop calls it every round, and under an
 * emulator both the SBI call and the clock read are slow. */
#define CON_POLL_TICKS 10000u /* 1 ms */
#define CON_POLL_ROUNDS 64u   /* a power of two */
extern unsigned con_rounds;
int con_poll(int now); /* the clock check and the SBI call */
static inline int con_getc(int now)
{
    if (!now && (++con_rounds & (CON_POLL_ROUNDS - 1u)) != 0) return -1;
    return con_poll(now);
}
#define CTRL_C 0x03

/* printf-like formatting for the console and the trace. Formats: %s %c, %u %d %x
 * and %lu %ld %lx; %x prints 0x. */
void vformat(void (*put)(char), const char *fmt, va_list ap);

/* ---- Freestanding helpers (util.c) ---- */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strnlen(const char *s, size_t max);
int streq(const char *a, const char *b);

/* ---- Trace buffer (trace.c) ---- */
extern char trace_buf[TRACE_LEN];
void trace_init(int to_console);
/* One line per call. */
void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Main loop helpers (main.c), inline: every loop round runs them ---- */
void set_state(enum fw_state s);
extern uint32_t diag_last_ping;
/* One round of the always-on duties: answer PING. 1 if it did something. */
static inline int diag_poll(void)
{
    uint32_t p = rd32(DIAG_PING);
    if (p == diag_last_ping) return 0;
    diag_last_ping = p;
    wr32(DIAG_PONG, p);
    return 1;
}
/* Rounds between looks at the clock of the idle policy. */
#define IDLE_CHECK_ROUNDS 256u
extern unsigned idle_spins;
extern int idle_busy;
void idle_check(void); /* the clock and the timed WFI */
/* Account one loop round; sleeps when nothing happened for a while. The
 * clock is read once per IDLE_CHECK_ROUNDS quiet rounds, not per message:
 * the first look after activity takes the time the idle stretch starts. */
static inline void idle_round(int did)
{
    if (did) {
        idle_spins = 0;
        idle_busy = 1;
        return;
    }
    if (++idle_spins >= IDLE_CHECK_ROUNDS) idle_check();
}

/* ---- Shell (shell.c) ---- */
struct shell_cmd {
    const char *name;
    const char *desc;
    void (*fn)(void);
};
/* A shell command, exported as __fsym___cmd_<cmd> and __fsym_<cmd> (the
 * symbols RT-Thread's shell uses; amp reads them from the ELF). */
#define SHELL_CMD(cmd, desc_)                                                   \
    static void cmd_##cmd(void);                                                \
    __attribute__((used, section(".shell_cmds." #cmd))) const struct shell_cmd \
        __fsym___cmd_##cmd = {#cmd, desc_, cmd_##cmd};                          \
    extern const struct shell_cmd __fsym_##cmd                                  \
        __attribute__((alias("__fsym___cmd_" #cmd)));                           \
    static void cmd_##cmd(void)
#define SHELL_PROMPT "msh />"
void shell_run(void); /* never returns */
void shell_typeahead(int c); /* input that arrived while a command ran */

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
/* Mark the queue broken (traced once). */
void vq_broken(struct vq *q, const char *why, uint32_t a, uint32_t b) __attribute__((cold));
/* The per-buffer operations (vq_peek, vq_take_and_return, vq_want_kick) are
 * inline, in vring.h: the polling loop runs them every round and, under an
 * emulator, a call's return is an indirect jump that costs a lookup. */

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
    uint32_t count;
    int announce;       /* pending NS message: -1 none, NS_CREATE or NS_DESTROY */
    int closed;         /* destroyed here: drops further messages */
    int host_destroyed; /* the host sent NS DESTROY for it */
};

/* rpmsg_poll results beyond "did something". */
enum rpmsg_event {
    RP_IDLE = 0,
    RP_ACTIVE = 1,
    RP_RESET = 2, /* DRIVER_OK went away: the host reset the vdev */
};

/* Publish the table copy and wait for the host with these endpoints. */
void rpmsg_start(struct endpoint **eps, unsigned n);
int rpmsg_poll(void);
void rpmsg_stop(void); /* forget the rings; touch nothing shared any more */
int rpmsg_state(void); /* FW_WAIT_HOST, FW_RUNNING or FW_BROKEN */
/* 0 on success, -1 when no TX buffer is available right now, -2 on a bad request. */
int rpmsg_send(struct endpoint *ep, const void *data, uint32_t len);
void rpmsg_destroy(struct endpoint *ep);
/* Copy the resource table to RSC_SHM_ADDR, `ver` last. */
void publish_table(void);

/* ---- Demos (apps.c) ---- */
int app_run(enum app_id id); /* 0 when it ended normally */

#endif
