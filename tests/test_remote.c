/*
 * The core's side of the MPI add-on, without MPI: PP_START_MPI when no add-on registered a
 * starter, the registry hash, and the POSIX backend's remote workers (a TCP connection as a
 * worker's channel, whose end is the worker's death). The add-on itself is tested under
 * mpiexec (tests/mpi_check.c, the *.mpi entries).
 */
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#  include <arpa/inet.h>
#  include <netinet/in.h>
#  include <sys/socket.h>
#  include <unistd.h>
#endif

#include "pp_core.h"
#include "pp_os.h"
#include "pp_test.h"
#include "registry.h"

static void test_mpi_without_addon(void)
{
#ifdef PP_T_MPI
    printf("SKIP: this program links the MPI add-on\n");
#else
    pp_executor_options o;
    pp_executor_options_init(&o);
    o.start_method = PP_START_MPI;
    pp_executor *ex = NULL;
    PP_ASSERT_ST(PP_ENOTSUP, pp_executor_create(&o, &ex));
    CU_ASSERT_PTR_NULL(ex);
#endif
}

static void test_registry_hash(void)
{
    uint64_t h = pp__registry_hash();
    CU_ASSERT_NOT_EQUAL(h, 0);
    CU_ASSERT_EQUAL(h, pp__registry_hash()); /* a property of the names, stable */
}

#ifndef _WIN32
/* A connected TCP loopback pair: sv[0] the parent's end, sv[1] the worker's. */
static void tcp_pair(int sv[2])
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    CU_ASSERT_FATAL(l >= 0 && bind(l, (struct sockaddr *)&sa, sizeof sa) == 0 &&
                    listen(l, 1) == 0 && getsockname(l, (struct sockaddr *)&sa, &sl) == 0);
    sv[0] = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(sv[0] >= 0 && connect(sv[0], (struct sockaddr *)&sa, sizeof sa) == 0);
    sv[1] = accept(l, NULL, NULL);
    CU_ASSERT_FATAL(sv[1] >= 0);
    close(l);
}
#endif

static void test_remote_worker(void)
{
#ifdef _WIN32
    pp__proc *p = NULL;
    pp__chan *c = NULL;
    PP_ASSERT_ST(PP_ENOTSUP, pp__os_remote_worker(0, 1, false, "x", &p, &c, NULL));
    PP_ASSERT_ST(PP_ENOTSUP, pp__os_chan_from_socket(0, &c, NULL));
#else
    int sv[2];
    tcp_pair(sv);
    pp__proc *p = NULL;
    pp__chan *c = NULL, *wc = NULL;
    PP_ASSERT_OK_FATAL(pp__os_remote_worker(sv[0], 4242, false, "rank 1 on host h", &p, &c,
                                            NULL));
    PP_ASSERT_OK_FATAL(pp__os_chan_from_socket(sv[1], &wc, NULL));
    CU_ASSERT_EQUAL(pp__os_proc_pid(p), 4242);
    CU_ASSERT_STRING_EQUAL(pp__os_proc_desc(p), "rank 1 on host h");
    pp__waitset *ws = NULL;
    PP_ASSERT_OK_FATAL(pp__os_waitset_create(&ws, NULL));
    int tag = 0;
    PP_ASSERT_OK(pp__os_waitset_chan(ws, c, PP__EV_READ, &tag));
    PP_ASSERT_OK(pp__os_waitset_proc(ws, p, &tag)); /* no sentinel: the EOF is the sign */
    /* bytes both ways; the parent's end does not block */
    size_t n = 0;
    char buf[8];
    PP_ASSERT_OK(pp__os_chan_read(c, buf, sizeof buf, &n, NULL));
    CU_ASSERT_EQUAL(n, 0);
    PP_ASSERT_OK(pp__os_chan_write(c, "ping", 4, &n, NULL));
    CU_ASSERT_EQUAL(n, 4);
    PP_ASSERT_OK(pp__os_chan_read(wc, buf, sizeof buf, &n, NULL)); /* blocking */
    CU_ASSERT(n == 4 && memcmp(buf, "ping", 4) == 0);
    PP_ASSERT_OK(pp__os_chan_write(wc, "pong", 4, &n, NULL));
    pp__event ev[4];
    PP_ASSERT_OK(pp__os_waitset_wait(ws, PP_T_TIMEOUT_MS, ev, 4, &n, NULL));
    CU_ASSERT(n == 1 && ev[0].tag == &tag && (ev[0].events & PP__EV_READ));
    PP_ASSERT_OK(pp__os_chan_read(c, buf, sizeof buf, &n, NULL));
    CU_ASSERT(n == 4 && memcmp(buf, "pong", 4) == 0);
    /* alive: not reaped */
    pp__exit st;
    PP_ASSERT_ST(PP_ETIMEDOUT, pp__os_proc_reap(p, 0, &st, NULL));
    /* the worker's end closes (its process died): readable, EOF, reaped as lost */
    pp__os_chan_free(wc);
    PP_ASSERT_OK(pp__os_waitset_wait(ws, PP_T_TIMEOUT_MS, ev, 4, &n, NULL));
    CU_ASSERT(n == 1 && (ev[0].events & PP__EV_READ));
    PP_ASSERT_ST(PP_END, pp__os_chan_read(c, buf, sizeof buf, &n, NULL));
    PP_ASSERT_OK(pp__os_proc_reap(p, PP_T_TIMEOUT_MS, &st, NULL));
    CU_ASSERT(PP__EXIT_LOST(&st));
    pp__os_waitset_remove(ws, &tag);
    pp__os_proc_free(p);
    pp__os_chan_free(c);

    /* stop: the connection is shut down here; reaped at once; the worker reads EOF */
    tcp_pair(sv);
    PP_ASSERT_OK_FATAL(pp__os_remote_worker(sv[0], 4243, false, NULL, &p, &c, NULL));
    PP_ASSERT_OK_FATAL(pp__os_chan_from_socket(sv[1], &wc, NULL));
    CU_ASSERT_PTR_NULL(pp__os_proc_desc(p));
    PP_ASSERT_OK(pp__os_proc_stop(p, true, NULL)); /* not local: no signal to pid 4243 */
    PP_ASSERT_OK(pp__os_proc_reap(p, 0, &st, NULL));
    CU_ASSERT(PP__EXIT_LOST(&st));
    PP_ASSERT_ST(PP_END, pp__os_chan_read(wc, buf, sizeof buf, &n, NULL));
    pp__os_proc_free(p);
    pp__os_chan_free(c);
    pp__os_chan_free(wc);
    pp__os_waitset_free(ws);
#endif
}

static CU_TestInfo tests[] = {
    {"PP_START_MPI without the add-on is PP_ENOTSUP", test_mpi_without_addon},
    {"the registry hash is a stable property of the names", test_registry_hash},
    {"a remote worker: a TCP connection whose end is its death", test_remote_worker},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_remote = {"remote", NULL, NULL, NULL, NULL, tests};
