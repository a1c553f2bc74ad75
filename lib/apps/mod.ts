/**
 * The seed's demo applications, host and remote halves: msg-test echo,
 * rpmsg-client-sample, matrix multiply and the libmetal shared-memory demo.
 *
 * @module
 */

export * from "./channel.ts";
export * from "./echo.ts";
export * from "./matrix.ts";
export * from "./sample.ts";
export * from "./services.ts";
export * from "./shmem.ts";
export * from "./bench.ts";
