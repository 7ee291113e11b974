/**
 * @file procpool_mpi.h
 * @brief procpool across machines: the workers are the ranks of an MPI job (libprocpool_mpi).
 *
 * The same API as a local pool (pp_submit, futures, pp_wait, pp_as_completed, pp_map,
 * shutdown, stats), with workers on many hosts. MPI only starts and places the processes:
 * each worker reaches rank 0 through its own TCP connection, which carries procpool's own
 * protocol, so an idle pool sleeps (MPI's waits spin) and a worker that dies is seen as its
 * connection's end (MPI itself never reports a dead process without ULFM).
 *
 * Build and link: `pkg-config --cflags --libs procpool-mpi`, or CMake
 * `find_package(procpool COMPONENTS mpi)` and `procpool::procpool_mpi`. libprocpool_mpi is
 * the whole of libprocpool plus this header's functions (link one of the two, not both);
 * it links libmpi, the core library never does. POSIX only.
 *
 * Usage (world mode):
 *
 *     int main(int argc, char **argv) {
 *         pp_register_task("work", work);          // in every rank, same names
 *         pp_mpi_worker_main(argc, argv);          // ranks >= 1 serve here, never return
 *         pp_executor_options o;
 *         pp_executor_options_init(&o);
 *         o.start_method = PP_START_MPI;           // the other ranks are the pool
 *         pp_executor *ex;
 *         pp_executor_create(&o, &ex);
 *         ...
 *     }
 *
 *     mpiexec --enable-recovery -n 5 ./app        # rank 0 and 4 workers
 *
 * **Starting.** pp_mpi_worker_main() initialises MPI (MPI_THREAD_MULTIPLE requested;
 * unless the program did already), then rank 0 opens a TCP listening socket and hands its
 * address and a 128-bit random token to the other ranks (MPI_Bcast); each of them connects,
 * presents the token, its rank, pid, host and a hash of its registered task names, and waits
 * for work. Nothing is read from a peer before its fixed-size greeting (128 bytes) proves
 * the token; a peer with the wrong token is refused and reported on stderr; a rank whose
 * task names differ is refused and the pool that wanted it breaks with a message naming its
 * rank, host and pid. The interface: loopback when every rank runs on this host, else the
 * address or host name in PROCPOOL_MPI_IFACE, else this host's name (listening on every
 * interface). **Trusted networks only: the connection is not encrypted (no TLS).** On the
 * worker ranks, PROCPOOL_MPI_DEAD_HOST_MS sets their side's keepalive (default 15000).
 *
 * **Without MPI (Slurm srun and other launchers).** When the environment has
 * PROCPOOL_CONNECT=host:port and PROCPOOL_TOKEN=<32 hex digits> and the launcher's rank and
 * size (SLURM_PROCID and SLURM_NTASKS, or PROCPOOL_RANK and PROCPOOL_NRANKS),
 * pp_mpi_worker_main() does not initialise MPI: rank 0 listens on that port, the others
 * connect to it (retrying for up to 60 s while rank 0 starts). Recipe:
 *
 *     export PROCPOOL_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
 *     export PROCPOOL_CONNECT=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -1):47011
 *     srun -n 5 ./app
 *
 * **The pool.** The worker ranks are a static pool: max_workers 0 means every worker rank
 * left; more than the job's worker ranks is PP_EINVAL; max_tasks_per_child and worker_path
 * are PP_EINVAL. One live MPI executor at a time: a second pp_executor_create gets
 * PP_ESTATE (and a line on stderr). Executors created one after another reuse the ranks;
 * each runs its initializer in each worker. pp_executor_worker_pids gives the workers' own
 * pids (on their hosts).
 *
 * **Crashes.** A worker that dies on any host (signal, abort, exit, segfault) ends its
 * connection: its calls fail and the pool breaks (PP_EBROKEN) as with a local crash, within
 * milliseconds, and the message names the worker's rank, host and pid ("lost its
 * connection": the exit status of a remote process is not known; a task's exit() is still
 * announced with its code). A host that vanishes is found by TCP keepalive after
 * dead_host_ms. A broken pool's ranks are gone for the rest of the job (the others exit
 * too: their state is unknown), so the next executor has fewer: it goes on with the ranks
 * left, or, with none, its futures fail PP_EBROKEN ("no worker rank left").
 * pp_executor_terminate_workers / kill_workers signal a worker on this host and close the
 * connection of any other (a remote task then runs to its end and the process exits when it next
 * reads).
 *
 * **The MPI runtime.** Under a plain `mpiexec`, Open MPI ends the whole job, rank 0
 * included, when any rank dies or exits without MPI_Finalize: run `mpiexec
 * --enable-recovery` (rank 0 prints one warning at start when it is missing). Under
 * --enable-recovery, mpiexec's own exit status is 0 whatever the ranks return (Open MPI
 * 4.1). MPICH 4.0.2 has no such switch: a worker's death ends the job. At the end of the
 * program rank 0 releases the workers (they call MPI_Finalize) and calls MPI_Finalize when
 * procpool initialised MPI; after a worker was lost it skips MPI_Finalize (which can hang
 * waiting for the dead rank) and ends at once with the program's exit status.
 */
#ifndef PROCPOOL_MPI_H
#define PROCPOOL_MPI_H

#include "procpool.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Call where pp_worker_main() would be called, after registering the tasks: initialises
 * MPI if the program has not (and then finalises it at exit), or uses the srun-style
 * environment (above). On ranks >= 1 it serves executors of rank 0 and never returns. On
 * rank 0, or in a process that is not part of a multi-rank job (a singleton), it returns 0,
 * closes task registration, and PP_START_MPI is available (a singleton has no worker ranks:
 * its executors' first submit breaks the pool). Also serves as pp_worker_main() for spawned
 * local workers, so a program can use both kinds of pool. Returns nonzero (and prints why)
 * if the rendezvous cannot be set up.
 */
PP_API int pp_mpi_worker_main(int argc, char **argv);

/** How the workers are started. */
typedef enum pp_mpi_mode {
    PP_MPI_WORLD, /**< the other ranks of the job (the only mode implemented) */
    PP_MPI_SPAWN  /**< one MPI_Comm_spawn per worker: not implemented yet (PP_ENOTSUP) */
} pp_mpi_mode;

/** MPI-specific settings; initialise with pp_mpi_options_init(). */
typedef struct pp_mpi_options {
    pp_mpi_mode mode;        /**< PP_MPI_WORLD */
    const char *listen_addr; /**< the interface rank 0 listens on. In world mode it is
                                  chosen by pp_mpi_worker_main (PROCPOOL_MPI_IFACE, see above),
                                  so this must be NULL or name the same address */
    long dead_host_ms;       /**< TCP keepalive and user timeout on each worker's
                                  connection: a host silent this long is dead
                                  (3 s at least); 0 = 15000 */
} pp_mpi_options;

/** Fills @p o with the defaults (world mode, the default interface, 15 s). NULL: no-op. */
PP_API void pp_mpi_options_init(pp_mpi_options *o);

/**
 * pp_executor_create() with MPI options: @p o's start_method must be PP_START_MPI (or
 * PP_START_DEFAULT, taken as PP_START_MPI); @p mo NULL means the defaults.
 *
 * @retval PP_OK       *out is the executor
 * @retval PP_EINVAL   bad options (max_workers above the worker ranks, max_tasks_per_child,
 *                     worker_path, dead_host_ms < 0, another listen_addr)
 * @retval PP_ENOTSUP  pp_mpi_worker_main() has not run, or mode PP_MPI_SPAWN
 * @retval PP_ESTATE   another MPI executor is alive
 */
PP_API pp_status pp_mpi_executor_create(const pp_executor_options *o, const pp_mpi_options *mo,
                                        pp_executor **out);

#ifdef __cplusplus
}
#endif

#endif /* PROCPOOL_MPI_H */
