/**
 * Byte layout constants of the OpenAMP resource table (openamp-wire.md section 1).
 *
 * @module
 */

/** Resource entry types. */
export const RSC_CARVEOUT = 0, RSC_DEVMEM = 1, RSC_TRACE = 2, RSC_VDEV = 3;
/** Vendor-specific entry types are `RSC_VENDOR_START..RSC_VENDOR_END` inclusive. */
export const RSC_VENDOR_START = 128, RSC_VENDOR_END = 512;
/** "Address to be chosen by the host". */
export const FW_RSC_U32_ADDR_ANY = 0xffff_ffff;
/** Table header: ver, num, reserved[2]; then `num` u32 offsets. */
export const RSC_HEADER_SIZE = 16;
/** The resource table version every peer uses. */
export const RSC_TABLE_VERSION = 1;
/** Most vrings one vdev may declare (Linux refuses more). */
export const MAX_VDEV_VRINGS = 2;
/** Largest vring size allowed (`num`). */
export const MAX_VRING_NUM = 32768;
/** Fixed sizes of each entry kind, including the leading `type` word. */
export const CARVEOUT_SIZE = 56, DEVMEM_SIZE = 56, TRACE_SIZE = 48, VDEV_SIZE = 28, VRING_SIZE = 20;
/** Length of every `name` field. */
export const RSC_NAME_LEN = 32;

/** Offsets inside a vdev entry (from the entry's first byte). */
export const VDEV_ID = 4,
  VDEV_NOTIFYID = 8,
  VDEV_DFEATURES = 12,
  VDEV_GFEATURES = 16,
  VDEV_CONFIG_LEN = 20,
  VDEV_STATUS = 24,
  VDEV_NUM_VRINGS = 25,
  VDEV_RESERVED = 26,
  VDEV_VRINGS = 28;
/** Offsets inside one vring descriptor of a vdev entry. */
export const VRING_DA = 0, VRING_ALIGN = 4, VRING_NUM = 8, VRING_NOTIFYID = 12, VRING_RESERVED = 16;

/** Virtio device id of rpmsg. */
export const VIRTIO_ID_RPMSG = 7;
/** rpmsg feature bit 0: name service. */
export const VIRTIO_RPMSG_F_NS = 1;

/** Virtio device status bits. */
export const VIRTIO_STATUS_ACKNOWLEDGE = 1,
  VIRTIO_STATUS_DRIVER = 2,
  VIRTIO_STATUS_DRIVER_OK = 4,
  VIRTIO_STATUS_FEATURES_OK = 8,
  VIRTIO_STATUS_NEEDS_RESET = 0x40,
  VIRTIO_STATUS_FAILED = 0x80;
