/*
 * The firmware's resource table. Layout as the seed's RT-Thread image (offset
 * array declared with 8 slots, vdev at +0x30), plus a trace entry at +0x74.
 */
#include "amp.h"

struct fw_vring {
    uint32_t da, align, num, notifyid, reserved;
};

struct fw_vdev {
    uint32_t type, id, notifyid, dfeatures, gfeatures, config_len;
    uint8_t status, num_of_vrings, reserved[2];
    struct fw_vring vring[2];
};

struct fw_trace {
    uint32_t type, da, len, reserved;
    char name[32];
};

struct fw_rsc_table {
    uint32_t ver, num, reserved[2];
    uint32_t offset[8];
    struct fw_vdev vdev;
    struct fw_trace trace;
};

_Static_assert(offsetof(struct fw_rsc_table, vdev) == RSC_VDEV_OFF, "vdev offset");
_Static_assert(offsetof(struct fw_rsc_table, trace) == RSC_TRACE_OFF, "trace offset");
_Static_assert(sizeof(struct fw_vdev) == 68, "vdev size");
_Static_assert(sizeof(struct fw_trace) == 48, "trace size");

#define ADDR_ANY 0xffffffffu

__attribute__((section(".resource_table"), aligned(0x100), used))
static const struct fw_rsc_table table = {
    .ver = 1,
    .num = 2,
    .offset = {RSC_VDEV_OFF, RSC_TRACE_OFF},
    .vdev = {
        .type = 3, /* RSC_VDEV */
        .id = 7,   /* rpmsg */
        .notifyid = 0,
        .dfeatures = RPMSG_F_NS,
        .gfeatures = 0,
        .config_len = 0,
        .status = 0,
        .num_of_vrings = 2,
        .vring = {
            {ADDR_ANY, 0x1000, 256, 1, 0},
            {ADDR_ANY, 0x1000, 256, 2, 0},
        },
    },
    .trace = {
        .type = 2, /* RSC_TRACE */
        .da = (uint32_t)TRACE_DA,
        .len = TRACE_LEN,
        .name = "trace0",
    },
};

const uint8_t *const resource_table_ptr = (const uint8_t *)&table;
const size_t resource_table_size = sizeof(table);
