/*
 * The block of memory a worker shares with its manager (one per worker, announced by the
 * SHM frame, pp_os.h's pp__os_shm_*). Zero when created. Only lock-free atomics live here:
 * they are address-free, so valid across the two processes' mappings, and a worker killed
 * at any instant leaves nothing locked.
 */
#ifndef PP_WSHM_H
#define PP_WSHM_H

#include <stdatomic.h>
#include <stdint.h>

#define PP__WSHM_SIZE 4096u

typedef struct pp__wshm {
    /* Written by the manager: the work id of the call it asks to stop (0: none). The
     * worker's pp_task_should_stop() compares it with the running call's id: one load, no
     * system call. */
    _Atomic(uint64_t) stop_id;
} pp__wshm;

#endif /* PP_WSHM_H */
