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
 * **The pool (world mode).** The worker ranks are a static pool: max_workers 0 means every
 * worker rank left; more than the job's worker ranks is PP_EINVAL; max_tasks_per_child and
 * worker_path are PP_EINVAL. One live world-mode executor at a time: a second
 * pp_executor_create gets PP_ESTATE (and a line on stderr). Executors created one after
 * another reuse the ranks; each runs its initializer in each worker.
 * pp_executor_worker_pids gives the workers' own pids (on their hosts).
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
 * **Spawn mode (PP_MPI_SPAWN; Open MPI).** The default in a singleton (a program started
 * without mpiexec), an option under mpiexec: each worker is started on demand by its own
 * MPI_Comm_spawn of this program (its path, with the program's arguments), a one-process MPI
 * job. In it pp_mpi_worker_main() finds its parent (MPI_Comm_get_parent), receives the
 * rendezvous (address, port, token) over the intercommunicator (never in argv, which other
 * users of the host can read), connects, serves its one executor and exits (calling
 * MPI_Finalize). The channel and its crash detection are world mode's. Unlike world mode,
 * workers are started again: a dead worker is replaced under PP_CRASH_ISOLATE / RETRY, a
 * broken pool loses nothing for the next executor, and several spawn-mode executors may be
 * alive at once. max_workers 0 means PROCPOOL_MPI_MAX_WORKERS, else the MPI universe size
 * minus the world's ranks, else the CPUs. Each spawn costs 0.2 to 0.5 s (measured, Open MPI
 * 4.1.4) and the manager waits for it; the first MPI_Init of a singleton 0.3 to 0.7 s more.
 * The spawn is called from procpool's manager thread: MPI must provide MPI_THREAD_MULTIPLE
 * (else PP_ENOTSUP). The spawned workers connect to a listening socket of their own: on
 * listen_addr, else PROCPOOL_MPI_IFACE, else loopback when they can only run on this host
 * (a singleton, or an Open MPI allocation of one node), else this host's name. A singleton initialised by procpool runs with Open MPI's
 * `orte_enable_recovery` and `rmaps_base_oversubscribe` set (unless the environment sets
 * them): without recovery its runtime aborts a dead worker's job and a worker dying during
 * another spawn left that spawn hanging (measured); without oversubscription, the parent
 * and as many workers as CPUs do not fit its slots. Under mpiexec, run `mpiexec
 * --enable-recovery` (else Open MPI ends the whole job when a spawned worker dies: rank 0
 * warns at the first spawn-mode executor) with free slots (`--oversubscribe`, or a hostfile
 * with more slots): a spawn that fails breaks the pool with MPI's message. MPICH 4.0.2
 * (ch4:ucx) cannot spawn: use world mode there. The intercommunicator is freed, never
 * disconnected (MPI_Comm_disconnect is collective: it would hang on a dead worker); MPI_Finalize
 * returned in 50 to 70 ms at the end, also after a worker died. max_tasks_per_child and
 * idle_timeout_ms stay PP_EINVAL with PP_START_MPI.
 *
 * **The MPI runtime.** Under a plain `mpiexec`, Open MPI ends the whole job, rank 0
 * included, when any rank dies or exits without MPI_Finalize: run `mpiexec
 * --enable-recovery` (rank 0 prints one warning at start when it is missing). Under
 * --enable-recovery, mpiexec's own exit status is 0 whatever the ranks return (Open MPI
 * 4.1). MPICH 4.0.2 has no such switch: a worker's death ends the job
 * (measured, world mode, mpiexec.hydra -n 3, a worker killed by SIGKILL, abort, SIGSEGV or
 * exit(3) mid-call, 3 runs each: rank 0 saw the death at once, its calls failing
 * PP_EBROKEN within 7 ms, then Hydra killed every rank, rank 0 mostly before its program
 * ended (it finished in 4 of 12 runs); mpiexec's status was the worker's signal or code,
 * or 15, in 11 of 12; never a hang). At the end of the
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
 * its executors spawn their workers, PP_MPI_SPAWN). In a worker spawned by PP_MPI_SPAWN it
 * serves and never returns. Also serves as pp_worker_main() for spawned
 * local workers, so a program can use both kinds of pool. Returns nonzero (and prints why)
 * if the rendezvous cannot be set up.
 */
PP_API int pp_mpi_worker_main(int argc, char **argv);

/** How the workers are started. */
typedef enum pp_mpi_mode {
    PP_MPI_WORLD, /**< the other ranks of the job: a static pool */
    PP_MPI_SPAWN  /**< one MPI_Comm_spawn of this program per worker, on demand (Open MPI) */
} pp_mpi_mode;

/** MPI-specific settings; initialise with pp_mpi_options_init(). */
typedef struct pp_mpi_options {
    pp_mpi_mode mode;        /**< PP_MPI_WORLD, or PP_MPI_SPAWN (the default in a
                                  singleton) */
    const char *listen_addr; /**< the interface rank 0 listens on. In world mode it is
                                  chosen by pp_mpi_worker_main (PROCPOOL_MPI_IFACE, see above),
                                  so this must be NULL or name the same address; in spawn
                                  mode the first spawn-mode executor's choice holds for the
                                  process (NULL: see "Spawn mode") */
    long dead_host_ms;       /**< TCP keepalive and user timeout on each worker's
                                  connection: a host silent this long is dead
                                  (3 s at least); 0 = 15000 */
} pp_mpi_options;

/** Fills @p o with the defaults (world mode, or spawn mode in a singleton after
 * pp_mpi_worker_main(); the default interface; 15 s). NULL: no-op. */
PP_API void pp_mpi_options_init(pp_mpi_options *o);

/**
 * pp_executor_create() with MPI options: @p o's start_method must be PP_START_MPI (or
 * PP_START_DEFAULT, taken as PP_START_MPI); @p mo NULL means the defaults.
 *
 * @retval PP_OK       *out is the executor
 * @retval PP_EINVAL   bad options (world mode: max_workers above the worker ranks;
 *                     max_tasks_per_child, worker_path, dead_host_ms < 0, another
 *                     listen_addr, an unknown mode)
 * @retval PP_ENOTSUP  pp_mpi_worker_main() has not run; PP_MPI_SPAWN without MPI (the
 *                     srun-style start) or without MPI_THREAD_MULTIPLE (pp_last_error()
 *                     says which)
 * @retval PP_ESTATE   world mode: another world-mode executor is alive
 */
PP_API pp_status pp_mpi_executor_create(const pp_executor_options *o, const pp_mpi_options *mo,
                                        pp_executor **out);

#ifdef __cplusplus
}
#endif

#endif /* PROCPOOL_MPI_H */
